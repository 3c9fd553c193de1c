package io.github.forwardcontext.snippets;

import io.github.forwardcontext.BatchSizeTracker;
import io.github.forwardcontext.snippets.Model.FlashMetadata;
import io.github.forwardcontext.snippets.Model.Request;
import io.github.forwardcontext.snippets.Model.Transformer;
import io.micrometer.core.instrument.MeterRegistry;

final class StagesSnippets {
  private StagesSnippets() {}

  static BatchSizeTracker[] stages(MeterRegistry registry) {
    // @start region="stages"
    BatchSizeTracker encoder = BatchSizeTracker.builder(registry).tags("stage", "encode").build();
    BatchSizeTracker denoiser = BatchSizeTracker.builder(registry).tags("stage", "denoise").build();
    // forward.pass{stage=encode, batch.size=..} and forward.pass{stage=denoise, batch.size=..}
    // @end
    return new BatchSizeTracker[] {encoder, denoiser};
  }

  static float[] warmup(
      BatchSizeTracker denoiser,
      FlashMetadata attnMetadata,
      Request request,
      Transformer transformer,
      float[] latents) {
    // @start region="warmup"
    // The first passes (JIT, kernel selection, graph capture) are many times slower: keep them out.
    denoiser.untimed(
        () -> {
          for (int i = 0; i < 3; i++) {
            denoiser.where(999, attnMetadata, request).call(() -> transformer.forward(latents));
          }
        });
    // From here on, the denoiser's passes are timed.
    // @end
    return latents;
  }
}
