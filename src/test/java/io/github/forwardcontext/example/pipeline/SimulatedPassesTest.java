package io.github.forwardcontext.example.pipeline;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.offset;

import io.github.forwardcontext.ForwardContext;
import io.github.forwardcontext.example.model.AttentionObserver;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class SimulatedPassesTest {

  private static final Options SIMULATED =
      Options.parse(
          "--requests",
          "4",
          "--steps",
          "6",
          "--batch-sizes",
          "1,3",
          "--layers",
          "1",
          "--heads",
          "2",
          "--dim",
          "8",
          "--seed",
          "11",
          "--simulate",
          "10");

  @AfterEach
  void noContextLeftBound() {
    assertThat(ForwardContext.isBound()).isFalse();
  }

  @Test
  void eachSimulatedPassIsTimedAtItsKnownDuration() throws Exception {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    try (Pipeline pipeline = new Pipeline(SIMULATED, registry, AttentionObserver.NONE)) {
      pipeline.run(r -> {});
    }

    for (int size : new int[] {1, 3}) {
      long total = 0;
      long max = 0;
      for (int request = 0; request < SIMULATED.requests(); request++) {
        if (SIMULATED.batchSizes().get(request % 2) != size) {
          continue;
        }
        for (int step = 0; step < SIMULATED.steps(); step++) {
          long nanos = SimulatedPasses.nanos(10, 11, request, step, size);
          total += nanos;
          max = Math.max(max, nanos);
        }
      }
      Timer timer =
          registry.get("forward.pass").tag("stage", "denoise").tag("batch.size", "" + size).timer();
      assertThat(timer.count()).isEqualTo(2L * SIMULATED.steps());
      assertThat(timer.totalTime(TimeUnit.NANOSECONDS)).isEqualTo(total);
      assertThat(timer.max(TimeUnit.NANOSECONDS)).isEqualTo(max);
    }
  }

  @Test
  void aPassOfBatchSizeBTakesTheBaseTimesOnePlusBOverEightBeforeJitter() {
    // Over many draws the median jitter is exp(0) = 1 and the stalls are too rare to move it.
    long[] draws = new long[4001];
    for (int step = 0; step < draws.length; step++) {
      draws[step] = SimulatedPasses.nanos(20, 5, 0, step, 8);
    }
    Arrays.sort(draws);

    assertThat(draws[draws.length / 2] / 1e6).isCloseTo(40, offset(1.0));
  }

  @Test
  void simulateIsParsedAndBoundedToAMinute() {
    assertThat(Options.parse("--simulate", "20").simulate()).isEqualTo(20);
    assertThat(Options.parse().simulate()).isZero();
    assertThatThrownBy(() -> Options.parse("--simulate", "60001"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("--simulate must be from 0 to 60000 but was 60001");
  }
}
