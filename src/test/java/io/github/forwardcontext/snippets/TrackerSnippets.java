package io.github.forwardcontext.snippets;

import io.github.forwardcontext.BatchSizeTracker;
import io.github.forwardcontext.snippets.Model.FlashMetadata;
import io.github.forwardcontext.snippets.Model.Request;
import io.github.forwardcontext.snippets.Model.Transformer;
import io.micrometer.core.instrument.MeterRegistry;

final class TrackerSnippets {
  private TrackerSnippets() {}

  static float[] timing(
      MeterRegistry registry,
      int[] timesteps,
      FlashMetadata attnMetadata,
      Request request,
      Transformer transformer,
      float[] initialLatents) {
    // @start region="timing"
    BatchSizeTracker tracker = BatchSizeTracker.builder(registry).build();

    float[] latents = initialLatents;
    for (int t : timesteps) {
      float[] input = latents; // a lambda captures effectively final values only
      latents = tracker.where(t, attnMetadata, request).call(() -> transformer.forward(input));
    }
    // @end
    return latents;
  }
}
