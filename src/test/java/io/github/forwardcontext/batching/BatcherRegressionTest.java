package io.github.forwardcontext.batching;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.forwardcontext.BatchSizeTracker;
import io.github.forwardcontext.LogCapture;
import io.github.forwardcontext.ThrowingMeterFilters;
import io.micrometer.core.instrument.Clock;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.cumulative.CumulativeTimer;
import io.micrometer.core.instrument.distribution.DistributionStatisticConfig;
import io.micrometer.core.instrument.distribution.pause.PauseDetector;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Defects an adversarial review found in the batcher, one test each; every one of them failed
 * before its fix.
 */
@SuppressWarnings("try") // resources held open only for their lifetime
class BatcherRegressionTest extends BatcherTestSupport {

  @Nested
  class TheQueueDepthGauge {
    @Test
    void aBatcherRebuiltUnderTheSameNameHasItsGaugeEveryTime() {
      for (int i = 0; i < 2_000; i++) {
        try (DynamicBatcher<String, String> batcher = builder(b -> b).build()) {
          assertThat(
                  registry
                      .find(DynamicBatcher.QUEUE_DEPTH)
                      .tag(DynamicBatcher.NAME_TAG, "test")
                      .gauge())
              .as("the gauge of rebuild %d", i)
              .isNotNull();
        }
      }
    }

    @Test
    void theNameIsStillHeldWhileTheGaugeIsRemoved() {
      List<Boolean> nameFreeAtRemoval = new CopyOnWriteArrayList<>();
      registry
          .config()
          .onMeterRemoved(
              meter -> {
                if (meter.getId().getName().equals(DynamicBatcher.QUEUE_DEPTH)
                    && nameFreeAtRemoval.isEmpty()) {
                  try {
                    // Closed at once, without waiting: its own termination needs this registry.
                    builder(b -> b).build().close(Duration.ZERO);
                    nameFreeAtRemoval.add(true);
                  } catch (IllegalArgumentException inUse) {
                    nameFreeAtRemoval.add(false);
                  } catch (InterruptedException e) {
                    throw new AssertionError(e);
                  }
                }
              });

      builder(b -> b).build().close();

      assertThat(nameFreeAtRemoval).containsExactly(false);
    }
  }

  @Nested
  class AVirtualMachineErrorOfAMeter {
    @Test
    void fromTheBatchesCounterNeitherFailsTheBatchNorLeavesTheDispatcherRunning() throws Exception {
      registry
          .config()
          .meterFilter(
              ThrowingMeterFilters.once(
                  DynamicBatcher.BATCHES, () -> new OutOfMemoryError("counter failed")));
      try (LogCapture log = new LogCapture(DynamicBatcher.class.getName())) {
        DynamicBatcher<String, String> batcher = builder(b -> b).build();

        assertThat(submitAsync(batcher, "a").result()).isEqualTo("a");
        batcher.close(); // returns once the dispatcher has ended, as the error ended it

        assertThatThrownBy(() -> batcher.submit("b"))
            .isInstanceOf(RejectedExecutionException.class)
            .hasMessageContaining("stopped after its dispatcher failed");
        assertThat(outcomes("completed")).isEqualTo(1);
      }
    }

    @Test
    void fromTheQueueWaitTimerNeitherFailsTheBatchNorLeavesTheDispatcherRunning() throws Exception {
      AtomicBoolean armed = new AtomicBoolean(true);
      SimpleMeterRegistry failing =
          new SimpleMeterRegistry() {
            @Override
            protected Timer newTimer(
                Meter.Id id, DistributionStatisticConfig config, PauseDetector pauseDetector) {
              return new CumulativeTimer(
                  id, Clock.SYSTEM, config, pauseDetector, TimeUnit.SECONDS, false) {
                @Override
                protected void recordNonNegative(long amount, TimeUnit unit) {
                  if (id.getName().equals(DynamicBatcher.QUEUE_WAIT) && armed.getAndSet(false)) {
                    throw new OutOfMemoryError("timer failed");
                  }
                  super.recordNonNegative(amount, unit);
                }
              };
            }
          };
      BatchSizeTracker failingTracker = BatchSizeTracker.builder(failing).build();
      try (LogCapture log = new LogCapture(DynamicBatcher.class.getName())) {
        DynamicBatcher<String, String> batcher =
            DynamicBatcher.<String, String>builder(failingTracker, b -> b)
                .ticker(ticker)
                .name("test")
                .build();

        assertThat(submitAsync(batcher, "a").result()).isEqualTo("a");
        batcher.close();

        assertThat(armed).as("the timer threw").isFalse();
        assertThatThrownBy(() -> batcher.submit("b"))
            .isInstanceOf(RejectedExecutionException.class)
            .hasMessageContaining("stopped after its dispatcher failed");
      }
    }
  }

  @ParameterizedTest
  @ValueSource(ints = {Integer.MAX_VALUE, 1 << 30, 100_000_000})
  void aHugeMaxBatchSizeAllocatesNothingUpFrontAndBatchesNormally(int maxBatchSize)
      throws Exception {
    try (DynamicBatcher<String, String> batcher =
        builder(b -> b).maxBatchSize(maxBatchSize).build()) {
      assertThat(batcher.submit("a")).isEqualTo("a");
    }

    assertThat(
            registry
                .get(DynamicBatcher.BATCHES)
                .tag(DynamicBatcher.BATCH_SIZE_TAG, "1")
                .counter()
                .count())
        .isEqualTo(1);
  }

  @Test
  void aSubmitByAnAlreadyInterruptedCallerCountsTheItemAsCancelled() {
    try (DynamicBatcher<String, String> batcher = builder(b -> b).build()) {
      Thread.currentThread().interrupt();

      assertThatThrownBy(() -> batcher.submit("a")).isInstanceOf(InterruptedException.class);
    }

    assertThat(outcomes("cancelled")).isEqualTo(1);
  }

  @Test
  void theCallerOfThePassATimedCloseInterruptsGetsACauseNamingTheBatcherAndTheTimeout()
      throws Exception {
    Recorder forward = new Recorder(true);
    DynamicBatcher<String, String> batcher = builder(forward).build();
    Call<String> running = submitAsync(batcher, "running");
    forward.awaitPass();

    assertThat(batcher.close(Duration.ofMillis(0))).isFalse();

    assertThat(running.thrown())
        .isInstanceOf(ExecutionException.class)
        .cause()
        .isInstanceOf(InterruptedException.class)
        .hasMessage(
            "Batcher 'test' closed with a timeout of PT0S while this item's batch ran;"
                + " its pass was interrupted");
    batcher.close();
  }

  @Test
  void aWrongSizedResultListIsDescribedInCorrectGrammar() throws Exception {
    BatchFunction<String, String> forward = batch -> List.of("only");
    try (DynamicBatcher<String, String> batcher =
        builder(forward).maxBatchSize(2).maxWait(HOUR).build()) {
      Call<String> a = submitQueued(batcher, "a");
      Call<String> b = submitAsync(batcher, "b");

      assertThat(a.thrown())
          .cause()
          .hasMessage("The forward function returned 1 result for a batch of 2 items");
      b.thrown();
    }
  }
}
