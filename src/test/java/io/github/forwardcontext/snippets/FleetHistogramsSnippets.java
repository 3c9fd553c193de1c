package io.github.forwardcontext.snippets;

import io.github.forwardcontext.BatchSizeTracker;
import io.github.forwardcontext.ForwardPassHistograms;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;

/** The code shown for fleet-wide quantiles, in the README and in the javadoc. */
final class FleetHistogramsSnippets {
  private FleetHistogramsSnippets() {}

  static BatchSizeTracker publish(MeterRegistry meterRegistry) {
    // @start region="publish"
    BatchSizeTracker tracker = BatchSizeTracker.builder(meterRegistry).publishHistogram().build();
    // @end
    return tracker;
  }

  static BatchSizeTracker buckets(MeterRegistry meterRegistry) {
    // @start region="buckets"
    BatchSizeTracker tracker =
        BatchSizeTracker.builder(meterRegistry)
            .histogramBuckets(
                Duration.ofMillis(10),
                Duration.ofMillis(20),
                Duration.ofMillis(30),
                Duration.ofMillis(50),
                Duration.ofMillis(70),
                Duration.ofMillis(100),
                Duration.ofMillis(200))
            .maxBatchSizes(64) // (64 + 1) x (7 + 4) = 715 series at most
            .build();
    // @end
    return tracker;
  }

  static BatchSizeTracker bins(MeterRegistry meterRegistry) {
    // @start region="bins"
    BatchSizeTracker tracker =
        BatchSizeTracker.builder(meterRegistry)
            .publishHistogram()
            .batchSizeBins(1, 2, 4, 8, 16, 32, 64, 128, 256, 512) // tag 8 for sizes 5 to 8
            .build(); // (10 + 1) x (19 + 4) = 253 series at most
    // @end
    return tracker;
  }

  static void filter(MeterRegistry meterRegistry) {
    // @start region="filter"
    // Global tracking builds its own tracker: give its timers buckets through the registry.
    meterRegistry.config().meterFilter(ForwardPassHistograms.filter());
    // @end
  }
}
