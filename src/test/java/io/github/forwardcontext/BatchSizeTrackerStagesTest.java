package io.github.forwardcontext;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationHandler;
import io.micrometer.observation.ObservationRegistry;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.lang.ref.WeakReference;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/** Several trackers on one registry: common tags, the claims that keep them apart, close(). */
class BatchSizeTrackerStagesTest {
  private final FakeClock clock = new FakeClock();
  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();

  private static void pass(BatchSizeTracker tracker, FakeClock clock, int size, double millis) {
    tracker.where(0, new TestMetadata(size)).run(() -> clock.advanceMillis(millis));
  }

  @Nested
  class Tags_ {
    @Test
    void everyTimerCarriesTheTrackersTagsBesideTheBatchSize() {
      BatchSizeTracker denoise =
          BatchSizeTracker.builder(registry).clock(clock).tags("stage", "denoise").build();
      pass(denoise, clock, 8, 30);

      Timer timer =
          registry.get("forward.pass").tags("stage", "denoise", "batch.size", "8").timer();
      assertThat(timer.getId().getTags())
          .containsExactlyInAnyOrder(Tag.of("stage", "denoise"), Tag.of("batch.size", "8"));
      assertThat(timer.totalTime(TimeUnit.MILLISECONDS)).isEqualTo(30.0);
      assertThat(denoise.tags()).containsExactly(Tag.of("stage", "denoise"));
    }

    @Test
    void twoStagesOnOneRegistryKeepSeparateTimersAndSeparateStats() {
      BatchSizeTracker encoder =
          BatchSizeTracker.builder(registry).clock(clock).tags("stage", "encode").build();
      BatchSizeTracker transformer =
          BatchSizeTracker.builder(registry).clock(clock).tags(Tags.of("stage", "denoise")).build();
      for (int i = 0; i < 3; i++) {
        pass(encoder, clock, 4, 2);
      }
      for (int i = 0; i < 5; i++) {
        pass(transformer, clock, 4, 30);
      }

      assertThat(registry.get("forward.pass").tags("stage", "encode").timer().count()).isEqualTo(3);
      assertThat(registry.get("forward.pass").tags("stage", "denoise").timer().count())
          .isEqualTo(5);
      assertThat(encoder.stats()).singleElement().extracting(BatchSizeStats::count).isEqualTo(3L);
      assertThat(transformer.stats())
          .singleElement()
          .extracting(BatchSizeStats::count)
          .isEqualTo(5L);
    }

    @Test
    void laterCallsAddTagsAndALaterValueOfAKeyWins() {
      BatchSizeTracker tracker =
          BatchSizeTracker.builder(registry)
              .tags("stage", "x", "model", "dit")
              .tags(List.of(Tag.of("stage", "denoise")))
              .build();
      assertThat(tracker.tags())
          .containsExactlyInAnyOrder(Tag.of("stage", "denoise"), Tag.of("model", "dit"));
    }

    @Test
    void badTagsAreRefusedNamingTheValue() {
      BatchSizeTracker.Builder builder = BatchSizeTracker.builder(registry);
      assertThatThrownBy(() -> builder.tags("stage", "denoise", "model"))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("even number")
          .hasMessageContaining("3")
          .hasMessageContaining("[stage, denoise, model]");
      assertThatThrownBy(() -> builder.tags(" ", "denoise"))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("blank")
          .hasMessageContaining("' '");
      assertThatThrownBy(() -> builder.tags("batch.size", "8"))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("'batch.size' is reserved");
      assertThatThrownBy(() -> builder.tags(List.of(Tag.of("batch.size", "8"))))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("'batch.size' is reserved");
      assertThatThrownBy(() -> builder.tags((String[]) null))
          .isInstanceOf(NullPointerException.class);
      assertThatThrownBy(() -> builder.tags("stage", null))
          .isInstanceOf(NullPointerException.class)
          .hasMessageContaining("keyValues[1]");
      assertThatThrownBy(() -> builder.tags((Iterable<Tag>) null))
          .isInstanceOf(NullPointerException.class);
    }

    @Test
    void theReportLineNamesTheTrackersTags() {
      LogCapture log = new LogCapture();
      try {
        BatchSizeTracker tracker =
            BatchSizeTracker.builder(registry)
                .clock(clock)
                .tags("stage", "denoise")
                .loggingInterval(Duration.ofSeconds(1))
                .reportExecutor(Runnable::run)
                .build();
        pass(tracker, clock, 8, 3);
        pass(tracker, clock, 8, 3);
        clock.advance(Duration.ofSeconds(2));
        pass(tracker, clock, 8, 3);

        String expected =
            "Batchsize forward time stats (batchsize, count, median_time(ms)) for stage=denoise:"
                + " [(8, 3, ";
        assertThat(tracker.report()).startsWith(expected);
        assertThat(log.messages(Level.INFO)).singleElement().asString().startsWith(expected);
      } finally {
        log.close();
      }
    }

    @Test
    void theObservationsLowCardinalityKeysCarryTheTags() {
      List<String> keys = new CopyOnWriteArrayList<>();
      ObservationRegistry observations = ObservationRegistry.create();
      observations
          .observationConfig()
          .observationHandler(
              new ObservationHandler<>() {
                @Override
                public void onStart(Observation.Context context) {
                  context
                      .getLowCardinalityKeyValues()
                      .forEach(kv -> keys.add(kv.getKey() + "=" + kv.getValue()));
                }

                @Override
                public boolean supportsContext(Observation.Context context) {
                  return true;
                }
              });
      BatchSizeTracker tracker =
          BatchSizeTracker.builder(registry)
              .tags("stage", "denoise")
              .observationRegistry(observations)
              .build();
      tracker.where(0, new TestMetadata(8)).run(() -> {});

      assertThat(keys).containsExactlyInAnyOrder("stage=denoise", "batch.size=8");
    }
  }

  @Nested
  class Claims {
    @Test
    void aSecondTrackerWithTheSameTagsOnTheSameRegistryIsRefused() {
      BatchSizeTracker.builder(registry).tags("stage", "denoise").build();

      assertThatThrownBy(() -> BatchSizeTracker.builder(registry).tags("stage", "denoise").build())
          .isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("forward.pass{stage=denoise}")
          .hasMessageContaining("tags(");
    }

    @Test
    void twoUntaggedTrackersOnOneRegistryAreRefused() {
      BatchSizeTracker.builder(registry).build();

      assertThatThrownBy(() -> BatchSizeTracker.builder(registry).build())
          .isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("forward.pass{}")
          .hasMessageContaining("tags(");
    }

    @Test
    void equalTagsOnDifferentRegistriesAreFine() {
      BatchSizeTracker a = BatchSizeTracker.builder(registry).build();
      BatchSizeTracker b = BatchSizeTracker.builder(new SimpleMeterRegistry()).build();
      assertThat(a).isNotSameAs(b);
    }

    @Test
    void aHistogramBesideATrackerWithoutOneIsRefusedBothWays() {
      BatchSizeTracker.builder(registry).tags("stage", "encode").build();
      assertThatThrownBy(
              () ->
                  BatchSizeTracker.builder(registry)
                      .tags("stage", "denoise")
                      .publishHistogram()
                      .build())
          .isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("publishHistogram()")
          .hasMessageContaining("no histogram")
          .hasMessageContaining("forward.pass{stage=encode}")
          .hasMessageContaining("forward.pass{stage=denoise}");

      SimpleMeterRegistry other = new SimpleMeterRegistry();
      BatchSizeTracker.builder(other).tags("stage", "encode").publishHistogram().build();
      assertThatThrownBy(() -> BatchSizeTracker.builder(other).tags("stage", "denoise").build())
          .isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("publishHistogram()")
          .hasMessageContaining("no histogram");
    }

    @Test
    void closeReleasesTheClaimAndRemovesTheTimers() {
      BatchSizeTracker first = BatchSizeTracker.builder(registry).clock(clock).build();
      pass(first, clock, 8, 1);
      assertThat(registry.find("forward.pass").timers()).hasSize(1);

      first.close();
      first.close(); // idempotent
      assertThat(registry.find("forward.pass").timers()).isEmpty();
      pass(first, clock, 8, 1); // still binds and counts, records nothing into the registry
      assertThat(first.stats()).singleElement().extracting(BatchSizeStats::count).isEqualTo(2L);
      assertThat(registry.find("forward.pass").timers()).isEmpty();

      BatchSizeTracker second = BatchSizeTracker.builder(registry).clock(clock).build();
      pass(second, clock, 8, 1);
      assertThat(registry.get("forward.pass").timer().count()).isEqualTo(1);
    }

    @Test
    void aGarbageCollectedTrackerNoLongerHoldsItsClaim() {
      WeakReference<BatchSizeTracker> gone =
          new WeakReference<>(BatchSizeTracker.builder(registry).build());
      for (int i = 0; i < 50 && gone.get() != null; i++) {
        System.gc();
      }
      assertThat(gone.get()).as("collected").isNull();

      assertThat(BatchSizeTracker.builder(registry).build()).isNotNull();
    }

    @Test
    void mixedHistogramSettingsWouldHaveBrokenTheScrapeAndAreRefusedAtBuild() {
      PrometheusMeterRegistry prometheus = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
      BatchSizeTracker encoder =
          BatchSizeTracker.builder(prometheus).tags("stage", "encode").publishHistogram().build();
      assertThatThrownBy(
              () -> BatchSizeTracker.builder(prometheus).tags("stage", "denoise").build())
          .isInstanceOf(IllegalStateException.class);

      BatchSizeTracker denoiser =
          BatchSizeTracker.builder(prometheus).tags("stage", "denoise").publishHistogram().build();
      encoder.where(0, new TestMetadata(4)).run(() -> {});
      denoiser.where(0, new TestMetadata(4)).run(() -> {});

      String scrape = prometheus.scrape();
      assertThat(scrape)
          .contains("forward_pass_seconds_count{batch_size=\"4\",stage=\"encode\"} 1")
          .contains("forward_pass_seconds_count{batch_size=\"4\",stage=\"denoise\"} 1")
          .contains("forward_pass_seconds_bucket{batch_size=\"4\",stage=\"denoise\",le=");
    }

    @Test
    void aTaggedAndAnUntaggedTrackerOnOnePrometheusRegistryBothScrape() {
      PrometheusMeterRegistry prometheus = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
      BatchSizeTracker plain = BatchSizeTracker.builder(prometheus).build();
      BatchSizeTracker staged = BatchSizeTracker.builder(prometheus).tags("stage", "x").build();
      plain.where(0, new TestMetadata(2)).run(() -> {});
      staged.where(0, new TestMetadata(2)).run(() -> {});

      assertThat(prometheus.scrape())
          .contains("forward_pass_seconds_count{batch_size=\"2\"} 1")
          .contains("forward_pass_seconds_count{batch_size=\"2\",stage=\"x\"} 1");
    }

    @Test
    void withoutTheClaimsMixedSettingsBreakPrometheussScrape() {
      // What the claims prevent, shown on the registry itself: one name as histogram and summary.
      PrometheusMeterRegistry prometheus = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
      Timer.builder("forward.pass")
          .tags("stage", "encode", "batch.size", "4")
          .serviceLevelObjectives(Duration.ofMillis(1))
          .register(prometheus)
          .record(Duration.ofMillis(1));
      Timer.builder("forward.pass")
          .tags("stage", "denoise", "batch.size", "4")
          .register(prometheus)
          .record(Duration.ofMillis(1));

      assertThatThrownBy(prometheus::scrape).isInstanceOf(ClassCastException.class);
    }
  }

  @AfterEach
  void noTrackerOfThisTestHoldsAClaimOnTheNextOne() {
    registry.close();
  }
}
