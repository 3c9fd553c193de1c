package io.github.forwardcontext;

import io.micrometer.core.instrument.Metrics;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;

/**
 * Run by {@link MicrobatchesTest} in a JVM of its own with global tracking on: three passes, each
 * split into microbatches of sizes 3 and 5, through the untracked API.
 */
final class MicrobatchGlobalTrackingProbe {
  private MicrobatchGlobalTrackingProbe() {}

  public static void main(String[] args) throws Exception {
    Metrics.addRegistry(new SimpleMeterRegistry());
    Microbatches microbatches = Microbatches.of(new TestMetadata(3), new TestMetadata(5));
    for (int i = 0; i < 3; i++) {
      ForwardContext.where(i, new TestMetadata(8)).call(() -> microbatches.call(index -> index));
    }
    System.out.println("global=" + BatchSizeTracker.global().isPresent());
    for (int size : new int[] {8, 3, 5}) {
      Timer timer =
          Metrics.globalRegistry
              .find("forward.pass")
              .tag("batch.size", Integer.toString(size))
              .timer();
      System.out.println("count" + size + "=" + (timer == null ? 0 : timer.count()));
    }
  }
}
