package io.github.forwardcontext.snippets;

import io.github.forwardcontext.AttentionMetadata;
import io.github.forwardcontext.ForwardContext;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * The code shown in {@link ForwardContext#taskWrapping(ExecutorService)}'s javadoc; it compiles.
 */
final class HandoffSnippets {
  private HandoffSnippets() {}

  static float[] stages(ExecutorService pool, int t, AttentionMetadata meta) {
    // @start region="stages"
    ExecutorService io = ForwardContext.taskWrapping(pool);
    return ForwardContext.where(t, meta)
        .call(
            () -> {
              // Submitted from this bound thread: sees the context.
              CompletableFuture<float[]> weights = CompletableFuture.supplyAsync(() -> load(), io);
              // Triggered by a stage that completes on io, or added after it completed: submitted
              // from a bound thread, so it sees the context too.
              CompletableFuture<float[]> quantized = weights.thenApplyAsync(w -> quantize(w), io);
              // Triggered by the JDK's delayer thread (orTimeout), or by any thread without the
              // context: submitted unbound. Capture the work while bound, and call it in the stage.
              Supplier<float[]> fallback = ForwardContext.wrapSupplier(() -> defaults());
              return quantized
                  .orTimeout(5, TimeUnit.SECONDS)
                  .exceptionallyAsync(timeout -> fallback.get(), io)
                  .join();
            });
    // @end
  }

  private static float[] load() {
    return new float[] {ForwardContext.current().currentTimestep()};
  }

  private static float[] quantize(float[] weights) {
    ForwardContext.current();
    return weights;
  }

  private static float[] defaults() {
    return new float[] {ForwardContext.current().currentTimestep()};
  }
}
