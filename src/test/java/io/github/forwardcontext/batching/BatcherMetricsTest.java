package io.github.forwardcontext.batching;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.forwardcontext.BatchSizeTracker;
import io.github.forwardcontext.LogCapture;
import io.github.forwardcontext.ThrowingMeterFilters;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Level;
import org.junit.jupiter.api.Test;

/** The batcher's meters on their own: what is registered, how it records, what a failure does. */
class BatcherMetricsTest {

  private final MeterRegistry registry = new SimpleMeterRegistry();
  private final AtomicInteger depth = new AtomicInteger();

  private BatcherMetrics metrics(Iterable<Tag> tags) {
    return new BatcherMetrics(registry, "m", tags, depth, AtomicInteger::get);
  }

  private double outcome(String outcome) {
    return registry
        .get(DynamicBatcher.ITEMS)
        .tag(DynamicBatcher.NAME_TAG, "m")
        .tag(DynamicBatcher.OUTCOME_TAG, outcome)
        .counter()
        .count();
  }

  @Test
  void registersTheTimerTheGaugeAndACounterPerOutcomeWithTheNameAndTheCommonTags() {
    metrics(Tags.of("stage", "encode"));

    assertThat(registry.getMeters())
        .hasSize(7)
        .allSatisfy(
            m ->
                assertThat(m.getId().getTags())
                    .contains(Tag.of("stage", "encode"), Tag.of(DynamicBatcher.NAME_TAG, "m")));
    assertThat(registry.find(DynamicBatcher.ITEMS).counters())
        .extracting(c -> c.getId().getTag(DynamicBatcher.OUTCOME_TAG))
        .containsExactlyInAnyOrder("completed", "failed", "rejected", "cancelled", "timed_out");
  }

  @Test
  void theGaugeReadsTheQueueAndIsRemovedAtTermination() {
    BatcherMetrics metrics = metrics(Tags.empty());
    depth.set(3);

    assertThat(registry.get(DynamicBatcher.QUEUE_DEPTH).gauge().value()).isEqualTo(3);
    metrics.terminated();
    assertThat(registry.find(DynamicBatcher.QUEUE_DEPTH).gauge()).isNull();
    assertThat(registry.find(DynamicBatcher.ITEMS).counters()).hasSize(5);
  }

  @Test
  void eachOutcomeAndTheQueueWaitAreRecorded() {
    BatcherMetrics metrics = metrics(Tags.empty());

    metrics.completed();
    metrics.completed();
    metrics.failed();
    metrics.rejected();
    metrics.cancelled();
    metrics.timedOut();
    metrics.queueWait(TimeUnit.MILLISECONDS.toNanos(4));

    assertThat(List.of("completed", "failed", "rejected", "cancelled", "timed_out"))
        .extracting(this::outcome)
        .containsExactly(2.0, 1.0, 1.0, 1.0, 1.0);
    assertThat(registry.get(DynamicBatcher.QUEUE_WAIT).timer().totalTime(TimeUnit.MILLISECONDS))
        .isEqualTo(4.0);
  }

  @Test
  void batchCountersAreRegisteredPerSizeSeenAlsoForSizesFarBeyondTheFirstOnes() {
    BatcherMetrics metrics = metrics(Tags.empty());

    metrics.batch(1);
    metrics.batch(1);
    metrics.batch(1_000_000);

    assertThat(registry.find(DynamicBatcher.BATCHES).counters())
        .extracting(c -> c.getId().getTag(DynamicBatcher.BATCH_SIZE_TAG), c -> c.count())
        .containsExactlyInAnyOrder(
            org.assertj.core.groups.Tuple.tuple("1", 2.0),
            org.assertj.core.groups.Tuple.tuple("1000000", 1.0));
  }

  @Test
  void aMeterThatFailsToRegisterIsLeftOutTheOthersRecordAndTheFailureIsLoggedOnceAsAWarning() {
    registry
        .config()
        .meterFilter(
            ThrowingMeterFilters.always(
                DynamicBatcher.QUEUE_WAIT, () -> new IllegalStateException("filter bug")));
    try (LogCapture log = new LogCapture(DynamicBatcher.class.getName())) {
      BatcherMetrics metrics = metrics(Tags.empty());
      metrics.queueWait(1);
      metrics.completed();
      registry
          .config()
          .meterFilter(
              ThrowingMeterFilters.always(
                  DynamicBatcher.BATCHES, () -> new AssertionError("an Error of a filter")));
      metrics.batch(2);
      metrics.batch(2);

      assertThat(registry.find(DynamicBatcher.QUEUE_WAIT).timer()).isNull();
      assertThat(outcome("completed")).isEqualTo(1);
      assertThat(log.at(Level.WARNING))
          .singleElement()
          .satisfies(r -> assertThat(r.getMessage()).contains("Batcher 'm' failed to record"));
      assertThat(log.at(Level.FINE)).hasSize(2);
    }
  }

  @Test
  void aVirtualMachineErrorOfAMeterIsRethrownAfterItIsLogged() {
    BatcherMetrics metrics = metrics(Tags.empty());
    registry
        .config()
        .meterFilter(
            ThrowingMeterFilters.always(
                DynamicBatcher.BATCHES, () -> new OutOfMemoryError("no memory")));
    try (LogCapture log = new LogCapture(DynamicBatcher.class.getName())) {
      assertThatThrownBy(() -> metrics.batch(3))
          .isInstanceOf(OutOfMemoryError.class)
          .hasMessage("no memory");
      assertThat(log.at(Level.WARNING)).hasSize(1);
    }
  }

  @Test
  void aBatchersMetersCarryItsTrackersTags() throws Exception {
    BatchSizeTracker tracker = BatchSizeTracker.builder(registry).tags("stage", "denoise").build();
    try (DynamicBatcher<String, String> batcher =
        DynamicBatcher.<String, String>builder(tracker, b -> b).name("m").build()) {
      batcher.submit("a");
      List<Meter> meters =
          registry.getMeters().stream()
              .filter(m -> m.getId().getName().startsWith("batcher."))
              .toList();

      assertThat(meters)
          .extracting(m -> m.getId().getName())
          .contains(
              DynamicBatcher.QUEUE_WAIT,
              DynamicBatcher.QUEUE_DEPTH,
              DynamicBatcher.BATCHES,
              DynamicBatcher.ITEMS);
      assertThat(meters)
          .allSatisfy(m -> assertThat(m.getId().getTag("stage")).isEqualTo("denoise"));
    }
  }
}
