package io.github.forwardcontext.snippets;

import io.github.forwardcontext.BatchSizeTracker;
import io.github.forwardcontext.ForwardContext;
import io.github.forwardcontext.snippets.Model.FlashMetadata;
import io.github.forwardcontext.snippets.Model.Request;
import io.github.forwardcontext.snippets.Model.Transformer;
import io.github.forwardcontext.structured.FanOut;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.List;
import java.util.concurrent.ExecutorService;

/** The README's code blocks. */
final class ReadmeSnippets {
  private ReadmeSnippets() {}

  static float[] pipeline(
      MeterRegistry meterRegistry,
      int[] timesteps,
      FlashMetadata attnMetadata,
      Request request,
      Transformer transformer,
      float[] latents) {
    // @start region="quickstart-pipeline"
    BatchSizeTracker tracker = BatchSizeTracker.builder(meterRegistry).build();

    // The pipeline: one tracked forward pass per denoising step.
    for (int t : timesteps) {
      float[] input = latents; // lambdas capture effectively final values
      latents =
          tracker
              .where(t, attnMetadata, request) // bind, and time under batch.size
              .call(() -> transformer.forward(input));
    }
    // @end
    return latents;
  }

  static List<float[]> layer(int numHeads, ExecutorService pool) throws Exception {
    // @start region="quickstart-layer"
    // In the model, anywhere below the pass, on its thread or in a structured subtask:
    ForwardContext ctx = ForwardContext.current();
    FlashMetadata meta = ctx.attnMetadata(FlashMetadata.class); // typed, with a clear error
    List<float[]> heads =
        FanOut.named("attention-head") // subtasks inherit the context
            .invokeAll(numHeads, h -> Model.attend(meta, ctx.currentTimestep(), h));

    // Threads that do not inherit (pools, CompletableFuture): hand the context over.
    ExecutorService io = ForwardContext.taskWrapping(pool);
    // @end
    io.shutdown();
    return heads;
  }
}
