package io.github.forwardcontext.snippets;

import io.github.forwardcontext.BatchSizeTracker;
import io.github.forwardcontext.ForwardContext;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.observation.ObservationRegistry;

/** The README's "In a service" code. */
final class ServiceSnippets {
  private ServiceSnippets() {}

  static BatchSizeTracker observed(MeterRegistry meterRegistry, ObservationRegistry observations) {
    // @start region="observations"
    BatchSizeTracker tracker =
        BatchSizeTracker.builder(meterRegistry)
            .observationRegistry(observations) // each timed pass is an Observation (a span)
            .build();
    // @end
    return tracker;
  }

  /** Stands for an accelerator runtime's stream. */
  interface DeviceStream {
    void synchronize();
  }

  static DeviceStream streamOf(ForwardContext context) {
    return () -> {};
  }

  static BatchSizeTracker synced(MeterRegistry meterRegistry) {
    // @start region="device-sync"
    BatchSizeTracker tracker =
        BatchSizeTracker.builder(meterRegistry)
            // runs inside the pass, before the clock stops: the timing covers the device work
            .beforeClockStops(pass -> streamOf(pass).synchronize())
            .build();
    // @end
    return tracker;
  }
}
