package io.github.forwardcontext;

import io.micrometer.core.instrument.Metrics;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;

/**
 * Run by {@link BatchSizeTrackerGlobalTest} in a JVM of its own: three passes through the untracked
 * API.
 */
final class BatchSizeTrackerGlobalProbe {
  private BatchSizeTrackerGlobalProbe() {}

  public static void main(String[] args) {
    if (args.length > 0 && args[0].equals("misconfigured")) {
      misconfigured();
      return;
    }
    if (args.length > 0 && args[0].equals("claimedFirst")) {
      claimedFirst();
      return;
    }
    Metrics.addRegistry(new SimpleMeterRegistry());
    ForwardContext context = ForwardContext.where(1, new TestMetadata(6));
    for (int i = 0; i < 3; i++) {
      context.run(() -> ForwardContext.current().currentTimestep());
    }
    Timer timer = Metrics.globalRegistry.find("forward.pass").tag("batch.size", "6").timer();
    System.out.println("count=" + (timer == null ? 0 : timer.count()));
    System.out.println("global=" + BatchSizeTracker.global().isPresent());
    BatchSizeTracker.global().ifPresent(t -> System.out.println("rows=" + t.stats()));
    if (BatchSizeTracker.global().isPresent()) {
      // The global tracker claims the global registry like any tracker.
      try {
        BatchSizeTracker.builder(Metrics.globalRegistry).build();
        System.out.println("second untagged tracker=built");
      } catch (IllegalStateException e) {
        System.out.println("second untagged tracker=refused");
      }
      BatchSizeTracker.builder(Metrics.globalRegistry).tags("stage", "encode").build();
      System.out.println("tagged tracker=built");
    }
  }

  /** With a malformed setting: explicit trackers and reads work, globally tracked passes fail. */
  private static void misconfigured() {
    BatchSizeTracker tracker = BatchSizeTracker.builder(new SimpleMeterRegistry()).build();
    int seen =
        tracker
            .where(7, new TestMetadata(2))
            .call(() -> ForwardContext.current().currentTimestep());
    System.out.println("explicit=" + seen + " rows=" + tracker.stats().size());
    for (int i = 0; i < 2; i++) {
      try {
        ForwardContext.where(1, new TestMetadata(6)).run(() -> {});
        System.out.println("run=ok");
      } catch (IllegalStateException e) {
        System.out.println("run failed: " + e.getMessage());
      }
    }
    try {
      BatchSizeTracker.global();
    } catch (IllegalStateException e) {
      System.out.println("global failed: " + e.getMessage());
    }
  }

  /**
   * An untagged tracker on the global registry built before ForwardContext is initialised: the
   * global tracker's claim fails, and ForwardContext must still work.
   */
  private static void claimedFirst() {
    BatchSizeTracker mine = BatchSizeTracker.builder(Metrics.globalRegistry).build();
    int seen =
        mine.where(3, new TestMetadata(4)).call(() -> ForwardContext.current().currentTimestep());
    System.out.println("mine=" + seen + " bound=" + ForwardContext.isBound());
    try {
      ForwardContext.where(1, new TestMetadata(6)).run(() -> {});
      System.out.println("run=ok");
    } catch (IllegalStateException e) {
      System.out.println("run failed: " + e.getMessage());
    }
  }
}
