package io.github.forwardcontext;

import io.micrometer.core.instrument.Metrics;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;

/**
 * Run by {@link GlobalTrackingTest} in a JVM of its own: three passes through the untracked API.
 */
final class GlobalTrackingProbe {
  private GlobalTrackingProbe() {}

  public static void main(String[] args) {
    Metrics.addRegistry(new SimpleMeterRegistry());
    ForwardContext context = ForwardContext.where(1, new TestMetadata(6));
    for (int i = 0; i < 3; i++) {
      context.run(() -> ForwardContext.current().currentTimestep());
    }
    Timer timer = Metrics.globalRegistry.find("forward.pass").tag("batch.size", "6").timer();
    System.out.println("count=" + (timer == null ? 0 : timer.count()));
    System.out.println("global=" + BatchSizeTracker.global().isPresent());
    BatchSizeTracker.global().ifPresent(t -> System.out.println("rows=" + t.stats()));
  }
}
