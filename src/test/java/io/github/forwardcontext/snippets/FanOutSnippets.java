package io.github.forwardcontext.snippets;

import io.github.forwardcontext.ForwardContext;
import io.github.forwardcontext.structured.FanOut;
import java.util.List;
import java.util.concurrent.TimeoutException;

/** The code shown in {@link FanOut}'s javadoc and the README's fan-out lines; it compiles. */
final class FanOutSnippets {
  private FanOutSnippets() {}

  // @start region="heads"
  // One instance per kind of work, in a field: its bound is shared by every call, from every
  // thread.
  private static final FanOut HEADS =
      FanOut.named("attention-head").withMaxParallelism(Runtime.getRuntime().availableProcessors());

  static List<float[]> heads(int numHeads, float[] q, float[] k, float[] v)
      throws InterruptedException, TimeoutException {
    // inside a forward pass: every head sees ForwardContext.current()
    return HEADS.invokeAll(numHeads, head -> attention(q, k, v, head));
  }

  // @end

  static FanOut demand() {
    // @start region="demand"
    // At start-up: fails here, naming --enable-preview and the JDK, where the subtasks could not
    // inherit the request's other scoped values.
    FanOut blocks = FanOut.named("block").withMode(FanOut.Mode.STRUCTURED);
    // @end
    return blocks;
  }

  private static float[] attention(float[] q, float[] k, float[] v, int head) {
    ForwardContext.current();
    return new float[] {q[head] * k[head] * v[head]};
  }
}
