package io.github.forwardcontext;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.micrometer.core.instrument.Clock;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationHandler;
import io.micrometer.observation.ObservationRegistry;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** A failure in the tracker's own machinery never breaks a forward pass, nor loses its outcome. */
class BatchSizeTrackerFailureTest implements NoContextLeftBound {

  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  private final FakeClock clock = new FakeClock();
  private final LogCapture log = new LogCapture();

  @AfterEach
  void closeLog() {
    log.close();
  }

  private Timer timer(String batchSize) {
    return registry.find("forward.pass").tag("batch.size", batchSize).timer();
  }

  private BatchSizeTracker trackerWithHook(java.util.function.Consumer<ForwardContext> hook) {
    return BatchSizeTracker.builder(registry).clock(clock).beforeClockStops(hook).build();
  }

  @SuppressWarnings("unchecked")
  private static <T extends Throwable> void sneakyThrow(Throwable t) throws T {
    throw (T) t;
  }

  @Test
  void hookThrowingAnErrorKeepsThePassResultAndRecordsIt() {
    BatchSizeTracker tracker =
        trackerWithHook(
            context -> {
              throw new AssertionError("device assertion");
            });

    String result = tracker.where(0, new TestMetadata(8)).call(() -> "latents");

    assertThat(result).isEqualTo("latents");
    assertThat(timer("8").count()).isEqualTo(1);
    assertThat(tracker.stats()).isEmpty(); // one sample: no row, but it was counted
    assertThat(log.messages(Level.WARNING)).singleElement().asString().contains("before-stop hook");
  }

  @Test
  void hookThrowingACheckedExceptionSneakilyKeepsTheOperationsOwnException() {
    BatchSizeTracker tracker = trackerWithHook(context -> sneakyThrow(new IOException("hook")));
    IOException own = new IOException("forward failed");

    assertThatThrownBy(
            () ->
                tracker
                    .where(0, new TestMetadata(8))
                    .call(
                        () -> {
                          throw own;
                        }))
        .isSameAs(own);
    assertThat(own.getSuppressed()).isEmpty();
    assertThat(timer("8").count()).isEqualTo(1);
    assertThat(log.messages(Level.WARNING)).hasSize(1);
  }

  @Test
  void hookThrowingAVirtualMachineErrorPropagatesOnlyAfterThePassIsRecorded() {
    OutOfMemoryError fatal = new OutOfMemoryError("device memory");
    BatchSizeTracker tracker =
        trackerWithHook(
            context -> {
              clock.advanceMillis(3);
              throw fatal;
            });

    assertThatThrownBy(() -> tracker.where(0, new TestMetadata(8)).run(() -> {})).isSameAs(fatal);

    assertThat(timer("8").count()).isEqualTo(1);
    assertThat(timer("8").totalTime(java.util.concurrent.TimeUnit.MILLISECONDS)).isEqualTo(3.0);
  }

  @Test
  void hookReceivesThePassContextWhileItIsStillBound() {
    List<ForwardContext> received = new ArrayList<>();
    List<ForwardContext> bound = new ArrayList<>();
    BatchSizeTracker tracker =
        trackerWithHook(
            context -> {
              received.add(context);
              bound.add(ForwardContext.current());
            });
    TestMetadata meta = new TestMetadata(8);
    TestBatch batch = new TestBatch("stream-3");

    tracker.where(11, meta, batch).run(() -> {});

    ForwardContext expected = new ForwardContext(11, meta, batch);
    assertThat(received).containsExactly(expected);
    assertThat(bound).containsExactly(expected);
    assertThat(log.messages(Level.WARNING)).isEmpty();
  }

  /** A java.util.logging handler that fails, as one with a broken sink would. */
  private static final class ThrowingHandler extends Handler {
    final AtomicInteger calls = new AtomicInteger();

    @Override
    public void publish(LogRecord record) {
      calls.incrementAndGet();
      throw new IllegalStateException("log sink down");
    }

    @Override
    public void flush() {}

    @Override
    public void close() {}
  }

  @Test
  void aLoggingBackendThatThrowsNeverReachesThePass() {
    Logger logger = Logger.getLogger(BatchSizeTracker.class.getName());
    ThrowingHandler throwing = new ThrowingHandler();
    logger.addHandler(throwing);
    try {
      BatchSizeTracker tracker =
          BatchSizeTracker.builder(registry)
              .clock(clock)
              .loggingInterval(Duration.ZERO)
              .beforeClockStops(
                  context -> {
                    throw new IllegalStateException("hook");
                  })
              .build();

      for (int i = 0; i < 10; i++) {
        int step = i;
        assertThat(
                tracker
                    .where(i, new TestMetadata(8))
                    .call(
                        () -> {
                          clock.advanceMillis(1);
                          return step;
                        }))
            .isEqualTo(i);
      }

      assertThat(throwing.calls.get()).as("the backend was reached and threw").isGreaterThan(9);
      assertThat(tracker.stats()).extracting(BatchSizeStats::count).containsExactly(10L);
    } finally {
      logger.removeHandler(throwing);
    }
  }

  /** A clock that throws while {@code failing} is set. */
  private static final class FlakyClock implements Clock {
    final FakeClock time = new FakeClock();
    final AtomicBoolean failing = new AtomicBoolean();
    final AtomicInteger failAfter = new AtomicInteger(Integer.MAX_VALUE);

    @Override
    public long wallTime() {
      return time.wallTime();
    }

    @Override
    public long monotonicTime() {
      if (failing.get() || failAfter.getAndDecrement() <= 0) {
        throw new IllegalStateException("clock source gone");
      }
      return time.monotonicTime();
    }
  }

  @Test
  void aClockThatThrowsWhenThePassStartsLeavesThePassRunningUntimed() {
    FlakyClock flaky = new FlakyClock();
    BatchSizeTracker tracker = BatchSizeTracker.builder(registry).clock(flaky).build();
    flaky.failing.set(true);
    AtomicInteger ran = new AtomicInteger();

    int result =
        tracker
            .where(0, new TestMetadata(8))
            .call(
                () ->
                    ForwardContext.current().attnMetadata().batchSize()
                        + ran.incrementAndGet() * 0);

    assertThat(result).isEqualTo(8);
    assertThat(ran).hasValue(1);
    assertThat(timer("8").count()).isZero();
    assertThat(log.messages(Level.WARNING)).singleElement().asString().contains("clock");
  }

  @Test
  void aClockThatThrowsWhenThePassEndsKeepsTheResultAndRecordsNothing() {
    FlakyClock flaky = new FlakyClock();
    BatchSizeTracker tracker = BatchSizeTracker.builder(registry).clock(flaky).build();
    flaky.failAfter.set(1); // the start reading works, the stop reading throws

    String result = tracker.where(0, new TestMetadata(8)).call(() -> "done");

    assertThat(result).isEqualTo("done");
    assertThat(timer("8").count()).isZero();
    assertThat(log.messages(Level.WARNING)).singleElement().asString().contains("clock");
  }

  @Test
  void aTimerThatFailedToRegisterIsRegisteredAgainLaterAndTheWarningNamesTheTag() {
    registry
        .config()
        .meterFilter(
            ThrowingMeterFilters.times(
                "forward.pass", 1, () -> new IllegalStateException("filter bug")));
    BatchSizeTracker tracker = BatchSizeTracker.builder(registry).clock(clock).build();

    for (int i = 0; i < 50; i++) { // within the first retry delay: no timer yet
      assertThat(tracker.where(0, new TestMetadata(8)).call(() -> "ok")).isEqualTo("ok");
      clock.advanceMillis(10);
    }
    assertThat(timer("8")).isNull();
    clock.advance(Duration.ofSeconds(1));
    for (int i = 0; i < 50; i++) {
      tracker.where(0, new TestMetadata(8)).run(() -> clock.advanceMillis(10));
    }

    assertThat(timer("8")).isNotNull();
    assertThat(timer("8").count()).isEqualTo(50);
    assertThat(tracker.stats()).extracting(BatchSizeStats::count).containsExactly(100L);
    assertThat(log.messages(Level.WARNING))
        .singleElement()
        .asString()
        .contains("forward.pass{batch.size=8}", "not in the registry", "retrying");
  }

  @Test
  void timerRegistrationIsRetriedNoMoreOftenThanTheBackoffAllows() {
    AtomicInteger attempts = new AtomicInteger();
    registry
        .config()
        .meterFilter(
            ThrowingMeterFilters.throwing(
                id -> attempts.incrementAndGet() > 0,
                () -> new IllegalStateException("filter bug")));
    BatchSizeTracker tracker = BatchSizeTracker.builder(registry).clock(clock).build();

    for (int i = 0; i < 1000; i++) { // 10 s of passes: retries after 1, 2 (at 3 s) and 4 (at 7 s)
      tracker.where(0, new TestMetadata(8)).run(() -> clock.advanceMillis(10));
    }

    assertThat(attempts).hasValue(4);
    assertThat(tracker.stats()).extracting(BatchSizeStats::count).containsExactly(1000L);
  }

  @Test
  void eachTagsFirstRegistrationFailureIsAWarningAndItsRetriesAreQuiet() {
    registry
        .config()
        .meterFilter(
            ThrowingMeterFilters.always(
                "forward.pass", () -> new IllegalStateException("filter bug")));
    BatchSizeTracker tracker = BatchSizeTracker.builder(registry).clock(clock).build();

    for (int i = 0; i < 300; i++) { // 3 s of passes of two sizes: retries at 1 s and 3 s
      tracker.where(0, new TestMetadata(8)).run(() -> clock.advanceMillis(5));
      tracker.where(0, new TestMetadata(4)).run(() -> clock.advanceMillis(5));
    }

    assertThat(log.messages(Level.WARNING))
        .hasSize(2)
        .anySatisfy(m -> assertThat(m).contains("forward.pass{batch.size=8}"))
        .anySatisfy(m -> assertThat(m).contains("forward.pass{batch.size=4}"));
    assertThat(log.messages(Level.FINE)).isNotEmpty().allMatch(m -> m.contains("retrying"));
  }

  @Test
  void aClockThatGoesBackwardsRecordsZeroLengthPassesInStatsAndMicrometerAlike() {
    BatchSizeTracker tracker = BatchSizeTracker.builder(registry).clock(clock).build();

    for (int i = 0; i < 6; i++) {
      double millis = i % 3 == 0 ? 5 : -2; // four of the six passes end "before" they started
      tracker.where(0, new TestMetadata(8)).run(() -> clock.advanceMillis(millis));
    }

    assertThat(timer("8").count()).isEqualTo(6);
    assertThat(tracker.stats())
        .singleElement()
        .satisfies(
            row -> {
              assertThat(row.count()).isEqualTo(6);
              assertThat(row.medianMillis()).isZero();
            });
    assertThat(timer("8").totalTime(java.util.concurrent.TimeUnit.MILLISECONDS)).isEqualTo(10.0);
  }

  @Test
  void theCapWarningPrintsTheBatchSizeAsItsTagDigits() {
    BatchSizeTracker tracker =
        BatchSizeTracker.builder(registry).clock(clock).maxBatchSizes(1).build();

    tracker.where(0, new TestMetadata(8)).run(() -> {});
    tracker.where(0, new TestMetadata(1_024_000)).run(() -> {});

    assertThat(log.messages(Level.WARNING))
        .singleElement()
        .asString()
        .contains("Batch size 1024000 would be distinct batch size number 2, beyond the cap of")
        .contains("maxBatchSizes = 1 ")
        .doesNotContain("1,024,000");
  }

  @Test
  void anObservationWhoseStartFailsHalfwayIsStillStoppedWithThePass() {
    ObservationRegistry observations = ObservationRegistry.create();
    io.micrometer.core.instrument.MeterRegistry meters = new SimpleMeterRegistry();
    observations
        .observationConfig()
        .observationHandler(
            new io.micrometer.core.instrument.observation.DefaultMeterObservationHandler(meters))
        .observationHandler(
            new ObservationHandler<>() {
              @Override
              public void onStart(Observation.Context context) {
                throw new IllegalStateException("handler broke in onStart");
              }

              @Override
              public boolean supportsContext(Observation.Context context) {
                return true;
              }
            });
    BatchSizeTracker tracker =
        BatchSizeTracker.builder(registry).clock(clock).observationRegistry(observations).build();

    for (int i = 0; i < 1000; i++) {
      assertThat(tracker.where(0, new TestMetadata(8)).call(() -> "latents")).isEqualTo("latents");
    }

    // The meter handler started a long-task sample for each pass; each was stopped again.
    io.micrometer.core.instrument.LongTaskTimer active =
        meters.get("forward.pass.observation.active").longTaskTimer();
    assertThat(active.activeTasks()).isZero();
    assertThat(meters.get("forward.pass.observation").timer().count()).isEqualTo(1000);
    assertThat(timer("8").count()).isEqualTo(1000);
    assertThat(log.messages(Level.WARNING)).singleElement().asString().contains("observation");
  }

  @Test
  void aBucketBoundBeyondWhatATimerHoldsIsRefusedNamingItAndTheLargestAllowed() {
    Duration tooLong = Duration.ofSeconds(Long.MAX_VALUE / 1000);
    assertThatThrownBy(
            () ->
                BatchSizeTracker.builder(registry).histogramBuckets(Duration.ofMillis(1), tooLong))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("buckets[1]")
        .hasMessageContaining(tooLong.toString())
        .hasMessageContaining(Duration.ofNanos(Long.MAX_VALUE).toString());
    assertThatThrownBy(() -> ForwardPassHistograms.filter(Duration.ofMillis(1), tooLong))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("buckets[1]")
        .hasMessageContaining(Duration.ofNanos(Long.MAX_VALUE).toString());

    // The largest allowed bound registers and records.
    BatchSizeTracker tracker =
        BatchSizeTracker.builder(registry)
            .clock(clock)
            .histogramBuckets(Duration.ofMillis(1), Duration.ofNanos(Long.MAX_VALUE))
            .build();
    tracker.where(0, new TestMetadata(8)).run(() -> clock.advanceMillis(2));
    assertThat(timer("8").count()).isEqualTo(1);
    assertThat(log.messages(Level.WARNING)).isEmpty();
  }
}
