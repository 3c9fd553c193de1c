package io.github.forwardcontext.batching;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A batcher's meters, resolved once; the batch-size counters are registered on first use, by the
 * dispatcher thread only. Recording never throws, except a {@link VirtualMachineError}: any other
 * failure of Micrometer (an {@link Error} of a meter filter included) is logged, once at {@code
 * WARNING} and then at {@code DEBUG}, and the batch goes on. Logging never throws either, except a
 * {@link VirtualMachineError}: a logging backend that fails is ignored.
 */
final class BatcherMetrics {
  private static final System.Logger LOG = System.getLogger(DynamicBatcher.class.getName());

  private final MeterRegistry registry;
  private final String name;
  private final AtomicBoolean warned = new AtomicBoolean();
  private final Timer queueWait;
  private final Counter completed;
  private final Counter failed;
  private final Counter rejected;
  private final Counter cancelled;
  private final Counter[] batches; // index: batch size; dispatcher thread only
  private final Gauge depth; // null if its registration failed

  BatcherMetrics(
      MeterRegistry registry, String name, int maxBatchSize, DynamicBatcher<?, ?> batcher) {
    this.registry = registry;
    this.name = name;
    this.batches = new Counter[maxBatchSize + 1];
    Timer wait = null;
    Counter[] outcomes = new Counter[4];
    Gauge gauge = null;
    try {
      wait =
          Timer.builder(DynamicBatcher.QUEUE_WAIT)
              .description(
                  "Time from an item's arrival in the batcher's queue to its batch's start")
              .tag(DynamicBatcher.NAME_TAG, name)
              .register(registry);
      String[] names = {"completed", "failed", "rejected", "cancelled"};
      for (int i = 0; i < names.length; i++) {
        outcomes[i] =
            Counter.builder(DynamicBatcher.ITEMS)
                .description("Items submitted to the batcher, by outcome")
                .tag(DynamicBatcher.NAME_TAG, name)
                .tag(DynamicBatcher.OUTCOME_TAG, names[i])
                .register(registry);
      }
      // A weak reference, Micrometer's default: the registry does not keep a batcher alive.
      gauge =
          Gauge.builder(DynamicBatcher.QUEUE_DEPTH, batcher, DynamicBatcher::queued)
              .description("Items waiting in the batcher's queue")
              .tag(DynamicBatcher.NAME_TAG, name)
              .register(registry);
    } catch (Throwable e) {
      log(e);
    }
    this.queueWait = wait;
    this.completed = outcomes[0];
    this.failed = outcomes[1];
    this.rejected = outcomes[2];
    this.cancelled = outcomes[3];
    this.depth = gauge;
  }

  /** Removes the gauge: a closed batcher has no queue, and its name may be used again. */
  void terminated() {
    if (depth != null) {
      try {
        registry.remove(depth);
      } catch (Throwable e) {
        log(e);
      }
    }
  }

  void queueWait(long nanos) {
    if (queueWait != null) {
      try {
        queueWait.record(nanos, TimeUnit.NANOSECONDS);
      } catch (Throwable e) {
        log(e);
      }
    }
  }

  void batch(int size) {
    try {
      Counter counter = batches[size];
      if (counter == null) {
        counter =
            Counter.builder(DynamicBatcher.BATCHES)
                .description("Batches run by the batcher, by number of items")
                .tag(DynamicBatcher.NAME_TAG, name)
                .tag(DynamicBatcher.BATCH_SIZE_TAG, Integer.toString(size))
                .register(registry);
        batches[size] = counter;
      }
      counter.increment();
    } catch (Throwable e) {
      log(e);
    }
  }

  void completed() {
    increment(completed);
  }

  void failed() {
    increment(failed);
  }

  void rejected() {
    increment(rejected);
  }

  void cancelled() {
    increment(cancelled);
  }

  private void increment(Counter counter) {
    if (counter != null) {
      try {
        counter.increment();
      } catch (Throwable e) {
        log(e);
      }
    }
  }

  /** Logs a metrics failure; rethrows it only if it is a {@link VirtualMachineError}. */
  private void log(Throwable e) {
    try {
      if (!warned.get() && warned.compareAndSet(false, true)) {
        LOG.log(
            System.Logger.Level.WARNING,
            "Batcher '"
                + name
                + "' failed to record a metric; batching goes on. Further failures are logged at"
                + " DEBUG.",
            e);
      } else {
        LOG.log(System.Logger.Level.DEBUG, "Batcher '" + name + "' failed to record a metric", e);
      }
    } catch (Throwable loggingFailure) {
      if (loggingFailure instanceof VirtualMachineError vme
          && !(e instanceof VirtualMachineError)) {
        throw vme;
      }
      // A logging backend that fails must not break a batch either.
    }
    if (e instanceof VirtualMachineError vme) {
      throw vme;
    }
  }
}
