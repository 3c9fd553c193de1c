package io.github.forwardcontext;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.cumulative.CumulativeTimer;
import io.micrometer.core.instrument.distribution.DistributionStatisticConfig;
import io.micrometer.core.instrument.distribution.pause.PauseDetector;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.logging.Level;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class BatchSizeTrackerTest implements NoContextLeftBound {

  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  private final FakeClock clock = new FakeClock();
  private final LogCapture log = new LogCapture();
  private final BatchSizeTracker tracker = BatchSizeTracker.builder(registry).clock(clock).build();

  @AfterEach
  void closeLog() {
    log.close();
  }

  private Timer timer(String batchSize) {
    return registry.find("forward.pass").tag("batch.size", batchSize).timer();
  }

  private void pass(BatchSizeTracker tracker, int batchSize, double millis) {
    tracker.where(0, new TestMetadata(batchSize)).run(() -> clock.advanceMillis(millis));
  }

  @Test
  void trackedPassBindsTheContextThatReadersSee() {
    TestMetadata meta = new TestMetadata(8);
    TestBatch batch = new TestBatch("r");

    ForwardContext seen = tracker.where(42, meta, batch).call(ForwardContext::current);

    assertThat(seen).isEqualTo(new ForwardContext(42, meta, batch));
  }

  @Test
  void passIsRecordedUnderItsBatchSizeWithTheInjectedClock() {
    tracker.where(1, new TestMetadata(8)).run(() -> clock.advanceMillis(12.5));

    Timer timer = timer("8");
    assertThat(timer).isNotNull();
    assertThat(timer.count()).isEqualTo(1);
    assertThat(timer.totalTime(TimeUnit.MILLISECONDS)).isEqualTo(12.5);
    assertThat(timer.getId().getName()).isEqualTo("forward.pass");
  }

  @Test
  void nestedTrackedPassesAreTimedIndependently() {
    tracker
        .where(1, new TestMetadata(8))
        .run(
            () -> {
              clock.advanceMillis(5);
              tracker.where(1, new TestMetadata(4)).run(() -> clock.advanceMillis(3));
              clock.advanceMillis(2);
            });

    assertThat(timer("8").totalTime(TimeUnit.MILLISECONDS)).isEqualTo(10.0);
    assertThat(timer("4").totalTime(TimeUnit.MILLISECONDS)).isEqualTo(3.0);
  }

  @Test
  void passWithoutMetadataIsBoundButNotTimed() {
    BatchSizeTracker.TrackedPass pass = tracker.where(0, null);

    assertThat(pass.isTimed()).isFalse();
    assertThat(pass.call(() -> ForwardContext.current().currentTimestep())).isZero();
    assertThat(registry.find("forward.pass").timers()).isEmpty();
  }

  @Test
  void passThatThrowsIsTimedAndItsExceptionPropagatesUnchanged() {
    IOException failure = new IOException("out of memory on device");

    assertThatThrownBy(
            () ->
                tracker
                    .where(0, new TestMetadata(2))
                    .call(
                        () -> {
                          clock.advanceMillis(4);
                          throw failure;
                        }))
        .isSameAs(failure);

    assertThat(timer("2").count()).isEqualTo(1);
    assertThat(timer("2").totalTime(TimeUnit.MILLISECONDS)).isEqualTo(4.0);
  }

  @Test
  void negativeBatchSizeIsRejectedBeforeTheOperationRuns() {
    AtomicBoolean ran = new AtomicBoolean();

    assertThatThrownBy(() -> tracker.where(0, () -> -3).run(() -> ran.set(true)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("batchSize must be >= 0")
        .hasMessageContaining("-3");
    assertThat(ran).isFalse();
  }

  @Test
  void badConfigurationIsRejectedNamingTheSettingAndValue() {
    assertThatThrownBy(() -> BatchSizeTracker.builder(null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("registry");
    assertThatThrownBy(
            () -> BatchSizeTracker.builder(registry).loggingInterval(Duration.ofSeconds(-1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("loggingInterval must be >= 0 but was PT-1S");
    assertThatThrownBy(() -> BatchSizeTracker.builder(registry).maxBatchSizes(0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("maxBatchSizes must be positive but was 0");
    assertThatThrownBy(() -> BatchSizeTracker.builder(registry).maxBatchSizes(-5))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("maxBatchSizes must be positive but was -5");
  }

  @Test
  void statsGiveCountAndMedianWithinOnePercentForSizesWithMoreThanOneSample() {
    Random random = new Random(7);
    double[] eight = durations(random, 101, 5, 40); // odd count
    double[] four = durations(random, 60, 0.2, 3); // even count
    for (double d : eight) {
      pass(tracker, 8, d);
    }
    for (double d : four) {
      pass(tracker, 4, d);
    }
    pass(tracker, 1, 100); // one sample: a warm-up, left out

    List<BatchSizeStats> stats = tracker.stats();

    assertThat(stats).extracting(BatchSizeStats::batchSize).containsExactly(8, 4);
    assertThat(stats).extracting(BatchSizeStats::count).containsExactly(101L, 60L);
    assertThat(stats.get(0).medianMillis())
        .isCloseTo(exactMedian(eight), within(exactMedian(eight) * 0.01));
    assertThat(stats.get(1).medianMillis())
        .isCloseTo(exactMedian(four), within(exactMedian(four) * 0.01));
  }

  @Test
  void statsAreSortedByCountLargestFirst() {
    int[] passes = {3, 7, 2, 5};
    for (int size = 0; size < passes.length; size++) {
      for (int i = 0; i < passes[size]; i++) {
        pass(tracker, size, 1);
      }
    }

    assertThat(tracker.stats()).extracting(BatchSizeStats::count).containsExactly(7L, 5L, 3L, 2L);
    assertThat(tracker.stats()).extracting(BatchSizeStats::batchSize).containsExactly(1, 3, 0, 2);
  }

  @Test
  void passesBeyondTheCapAreRecordedUnderOtherWithOneWarning() {
    tracker.close(); // the test builds its own on the same registry
    BatchSizeTracker capped =
        BatchSizeTracker.builder(registry).clock(clock).maxBatchSizes(2).build();
    int[] sizes = {1, 2, 3, 4, 3, 1, 5};
    for (int size : sizes) {
      pass(capped, size, 1);
    }

    assertThat(timer("1").count()).isEqualTo(2);
    assertThat(timer("2").count()).isEqualTo(1);
    assertThat(timer("other").count()).isEqualTo(4);
    assertThat(timer("3")).isNull();
    assertThat(registry.find("forward.pass").timers()).hasSize(3);
    assertThat(log.messages(Level.WARNING))
        .singleElement()
        .asString()
        .contains("maxBatchSizes", "batch.size=other", "3");
    assertThat(capped.stats())
        .containsExactly(
            new BatchSizeStats(BatchSizeStats.OTHER, 4, capped.stats().get(0).medianMillis()),
            new BatchSizeStats(1, 2, capped.stats().get(1).medianMillis()));
  }

  @Test
  void reportLineIsLoggedOnceTheIntervalHasPassedInTheSeedsFormat() {
    tracker.close(); // the test builds its own on the same registry
    BatchSizeTracker reporting =
        BatchSizeTracker.builder(registry)
            .clock(clock)
            .loggingInterval(Duration.ofSeconds(10))
            .reportExecutor(Runnable::run)
            .build();
    pass(reporting, 8, 12);
    pass(reporting, 8, 14);
    pass(reporting, 8, 13);
    pass(reporting, 4, 3);
    pass(reporting, 4, 5);
    assertThat(log.reports()).isEmpty();

    clock.advance(Duration.ofSeconds(10));
    pass(reporting, 2, 1); // the first pass to finish after the interval logs

    Matcher line =
        Pattern.compile(
                Pattern.quote(BatchSizeTracker.REPORT_PREFIX)
                    + "\\[\\(8, 3, (\\d+\\.\\d{1,2})\\), \\(4, 2, (\\d+\\.\\d{1,2})\\)\\]")
            .matcher(log.reports().getFirst());
    assertThat(log.reports()).hasSize(1);
    assertThat(line.matches()).as(log.reports().getFirst()).isTrue();
    assertThat(Double.parseDouble(line.group(1))).isCloseTo(13.0, within(0.13));
    assertThat(Double.parseDouble(line.group(2))).isCloseTo(4.0, within(0.04));
    assertThat(reporting.report()).startsWith(BatchSizeTracker.REPORT_PREFIX + "[(8, 3, ");
  }

  @Test
  void reportIsLoggedAtMostOncePerInterval() {
    tracker.close(); // the test builds its own on the same registry
    BatchSizeTracker reporting =
        BatchSizeTracker.builder(registry)
            .clock(clock)
            .loggingInterval(Duration.ofSeconds(10))
            .reportExecutor(Runnable::run)
            .build();
    pass(reporting, 8, 1);
    clock.advance(Duration.ofSeconds(11));

    for (int i = 0; i < 20; i++) {
      pass(reporting, 8, 1);
    }
    assertThat(log.reports()).hasSize(1);

    clock.advance(Duration.ofSeconds(11));
    pass(reporting, 8, 1);
    assertThat(log.reports()).hasSize(2);
  }

  @Test
  void emptyReportIsNotLogged() {
    tracker.close(); // the test builds its own on the same registry
    BatchSizeTracker reporting =
        BatchSizeTracker.builder(registry)
            .clock(clock)
            .loggingInterval(Duration.ZERO)
            .reportExecutor(Runnable::run)
            .build();

    pass(reporting, 8, 1); // due, but one sample per size makes no row
    pass(reporting, 4, 1);

    assertThat(reporting.stats()).isEmpty();
    assertThat(log.reports()).isEmpty();
  }

  @Test
  void hookRunsAfterTheOperationAndBeforeTheClockStops() {
    List<String> events = new CopyOnWriteArrayList<>();
    tracker.close(); // the test builds its own on the same registry
    BatchSizeTracker synced =
        BatchSizeTracker.builder(registry)
            .clock(clock)
            .beforeClockStops(
                context -> {
                  events.add("sync");
                  clock.advanceMillis(7); // the device work the sync waits for
                })
            .build();

    synced.where(0, new TestMetadata(8)).run(() -> events.add("forward"));

    assertThat(events).containsExactly("forward", "sync");
    assertThat(timer("8").totalTime(TimeUnit.MILLISECONDS)).isEqualTo(7.0);
  }

  @Test
  void failingHookNeverBreaksThePassAndIsLoggedOnceThenQuietly() {
    tracker.close(); // the test builds its own on the same registry
    BatchSizeTracker synced =
        BatchSizeTracker.builder(registry)
            .clock(clock)
            .beforeClockStops(
                context -> {
                  throw new IllegalStateException("device lost");
                })
            .build();

    for (int i = 0; i < 3; i++) {
      assertThat(synced.where(0, new TestMetadata(8)).call(() -> "latents")).isEqualTo("latents");
    }

    assertThat(timer("8").count()).isEqualTo(3);
    assertThat(log.messages(Level.WARNING)).singleElement().asString().contains("before-stop hook");
    assertThat(log.messages(Level.FINE)).hasSize(2);
  }

  @Test
  void failingTimerNeverBreaksThePass() {
    MeterRegistry failing =
        new SimpleMeterRegistry() {
          @Override
          protected Timer newTimer(
              Meter.Id id, DistributionStatisticConfig config, PauseDetector pauseDetector) {
            return new CumulativeTimer(id, clock, config, pauseDetector, TimeUnit.SECONDS) {
              @Override
              protected void recordNonNegative(long amount, TimeUnit unit) {
                throw new IllegalStateException("registry closed");
              }
            };
          }
        };
    BatchSizeTracker broken = BatchSizeTracker.builder(failing).clock(clock).build();

    assertThat(broken.where(0, new TestMetadata(8)).call(() -> 1)).isEqualTo(1);
    assertThat(broken.where(0, new TestMetadata(8)).call(() -> 2)).isEqualTo(2);

    assertThat(log.messages(Level.WARNING)).singleElement().asString().contains("recording");
    assertThat(broken.stats()).extracting(BatchSizeStats::count).containsExactly(2L);
  }

  @Test
  void batchSizeIsReadOnceWhenBinding() {
    int[] reads = {0};
    AttentionMetadata counting = () -> ++reads[0];

    tracker.where(0, counting).run(() -> ForwardContext.current().attnMetadata());

    assertThat(reads[0]).isEqualTo(1);
    assertThat(timer("1").count()).isEqualTo(1);
  }

  private static double[] durations(Random random, int n, double minMillis, double maxMillis) {
    double[] d = new double[n];
    for (int i = 0; i < n; i++) {
      d[i] = minMillis + random.nextDouble() * (maxMillis - minMillis);
    }
    return d;
  }

  /** The median as the seed computes it: the middle value, or the mean of the two middle ones. */
  private static double exactMedian(double[] values) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    int n = sorted.length;
    return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  }

  @Test
  void aReportStillBeingMadeIsNotJoinedByAnotherAndTheNextDuePassAfterItMakesOne() {
    tracker.close(); // the test builds its own on the same registry
    List<Runnable> handedOver = new ArrayList<>();
    BatchSizeTracker reporting =
        BatchSizeTracker.builder(registry)
            .clock(clock)
            .loggingInterval(Duration.ZERO)
            .reportExecutor(handedOver::add) // holds the reports: each stays "being made"
            .build();
    pass(reporting, 8, 1);
    pass(reporting, 8, 1);
    pass(reporting, 8, 1);
    assertThat(handedOver).as("one report in flight at a time").hasSize(1);

    handedOver.getFirst().run();
    assertThat(log.reports()).hasSize(1);
    pass(reporting, 8, 1);
    assertThat(handedOver).hasSize(2);
  }
}
