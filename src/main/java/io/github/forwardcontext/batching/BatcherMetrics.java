package io.github.forwardcontext.batching;

import io.github.forwardcontext.internal.FailureLog;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import java.util.function.ToDoubleFunction;

/**
 * A batcher's meters, resolved once; the batch-size counters are registered on first use of each
 * size, by the dispatcher thread only, in an array that grows with the largest size seen (never
 * with {@code maxBatchSize}, which may be huge). Every meter carries the batcher's common tags and
 * its {@value DynamicBatcher#NAME_TAG} tag.
 *
 * <p>Registering and recording never throw, except a {@link VirtualMachineError}: any other failure
 * of Micrometer (an {@link Error} of a meter filter included) goes to one {@link FailureLog}, the
 * first at {@code WARNING} and later ones at {@code DEBUG}, and the batch goes on. A meter that
 * failed to register is left out; the others still record.
 */
final class BatcherMetrics {
  private static final System.Logger LOG = System.getLogger(DynamicBatcher.class.getName());

  /** The values of the {@value DynamicBatcher#OUTCOME_TAG} tag, indexed by {@link Slot} state. */
  static final String[] OUTCOMES = {
    null, "completed", "failed", "rejected", "cancelled", "timed_out"
  };

  private final MeterRegistry registry;
  private final Tags tags;
  private final FailureLog failures;
  private final Timer queueWait; // null if its registration failed
  private final Counter[] outcomes = new Counter[OUTCOMES.length]; // null where registration failed
  private Counter[] batches = new Counter[17]; // index: batch size; dispatcher thread only
  private final Gauge depth; // null if its registration failed

  /**
   * Registers the meters of the batcher {@code name}; its gauge reads {@code depth} of {@code
   * queue}, held weakly as Micrometer does.
   */
  <T> BatcherMetrics(
      MeterRegistry registry,
      String name,
      Iterable<Tag> commonTags,
      T queue,
      ToDoubleFunction<T> depthOf) {
    this.registry = registry;
    this.tags = Tags.of(commonTags).and(DynamicBatcher.NAME_TAG, name);
    this.failures =
        new FailureLog(LOG, "Batcher '" + name + "' failed to record a metric; batching goes on");
    this.queueWait =
        register(
            () ->
                Timer.builder(DynamicBatcher.QUEUE_WAIT)
                    .description(
                        "Time from an item's arrival in the batcher's queue to its batch's start")
                    .tags(tags)
                    .register(registry));
    for (int state = 1; state < OUTCOMES.length; state++) {
      String outcome = OUTCOMES[state];
      outcomes[state] =
          register(
              () ->
                  Counter.builder(DynamicBatcher.ITEMS)
                      .description("Items submitted to the batcher, by outcome")
                      .tags(tags)
                      .tag(DynamicBatcher.OUTCOME_TAG, outcome)
                      .register(registry));
    }
    this.depth =
        register(
            () ->
                Gauge.builder(DynamicBatcher.QUEUE_DEPTH, queue, depthOf)
                    .description("Items waiting in the batcher's queue")
                    .tags(tags)
                    .register(registry));
  }

  private interface Registration<M> {
    M register();
  }

  private <M> M register(Registration<M> registration) {
    try {
      return registration.register();
    } catch (Throwable e) {
      log(e);
      return null;
    }
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

  /** Counts a batch of {@code size} items; dispatcher thread only. */
  void batch(int size) {
    try {
      if (size >= batches.length) {
        // Grows with the sizes seen only: a batch never holds more items than were queued.
        long length = Math.max(size + 1L, 2L * batches.length);
        batches = Arrays.copyOf(batches, (int) Math.min(length, Integer.MAX_VALUE - 8L));
      }
      Counter counter = batches[size];
      if (counter == null) {
        counter =
            Counter.builder(DynamicBatcher.BATCHES)
                .description("Batches run by the batcher, by number of items")
                .tags(tags)
                .tag(DynamicBatcher.BATCH_SIZE_TAG, Integer.toString(size))
                .register(registry);
        batches[size] = counter;
      }
      counter.increment();
    } catch (Throwable e) {
      log(e);
    }
  }

  /** Counts one item under the outcome of the {@link Slot} state {@code state}. */
  void outcome(int state) {
    Counter counter = outcomes[state];
    if (counter != null) {
      try {
        counter.increment();
      } catch (Throwable e) {
        log(e);
      }
    }
  }

  void completed() {
    outcome(Slot.DONE);
  }

  void failed() {
    outcome(Slot.FAILED);
  }

  void rejected() {
    outcome(Slot.REJECTED);
  }

  void cancelled() {
    outcome(Slot.CANCELLED);
  }

  void timedOut() {
    outcome(Slot.TIMED_OUT);
  }

  /** Logs a metrics failure; rethrows it only if it is a {@link VirtualMachineError}. */
  private void log(Throwable e) {
    failures.log(e);
    FailureLog.rethrowIfFatal(e);
  }
}
