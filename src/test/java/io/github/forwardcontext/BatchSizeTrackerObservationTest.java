package io.github.forwardcontext;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.forwardcontext.observation.DefaultForwardPassObservationConvention;
import io.github.forwardcontext.observation.ForwardPassObservationContext;
import io.micrometer.common.KeyValue;
import io.micrometer.common.KeyValues;
import io.micrometer.core.instrument.observation.DefaultMeterObservationHandler;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationHandler;
import io.micrometer.observation.ObservationRegistry;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Level;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class BatchSizeTrackerObservationTest implements NoContextLeftBound {

  private final FakeClock clock = new FakeClock();
  private final LogCapture log = new LogCapture();
  private final ObservationRegistry observations = ObservationRegistry.create();
  private final List<String> events = new CopyOnWriteArrayList<>();

  @AfterEach
  void closeLog() {
    log.close();
  }

  /** Records what Micrometer tells its handlers, as a tracing or logging handler would see it. */
  private final class RecordingHandler implements ObservationHandler<Observation.Context> {
    @Override
    public void onStart(Observation.Context context) {
      events.add("start " + context.getName() + " " + text(context.getLowCardinalityKeyValues()));
    }

    @Override
    public void onError(Observation.Context context) {
      events.add("error " + context.getError().getMessage());
    }

    @Override
    public void onStop(Observation.Context context) {
      events.add(
          "stop "
              + context.getContextualName()
              + " "
              + text(context.getHighCardinalityKeyValues()));
    }

    @Override
    public boolean supportsContext(Observation.Context context) {
      return true;
    }
  }

  private static String text(KeyValues values) {
    return values.stream().map(v -> v.getKey() + "=" + v.getValue()).toList().toString();
  }

  private BatchSizeTracker tracker() {
    observations.observationConfig().observationHandler(new RecordingHandler());
    return BatchSizeTracker.builder(new SimpleMeterRegistry())
        .clock(clock)
        .observationRegistry(observations)
        .build();
  }

  @Test
  void eachTimedPassIsAnObservationWithItsBatchSizeAndTimestep() {
    BatchSizeTracker tracker = tracker();

    tracker.where(981, new TestMetadata(8)).run(() -> events.add("forward"));

    assertThat(events)
        .containsExactly(
            "start forward.pass.observation [batch.size=8]",
            "forward",
            "stop forward pass [timestep=981]");
  }

  @Test
  void theObservationIsCurrentWhileThePassRuns() {
    BatchSizeTracker tracker = tracker();

    Observation inside =
        tracker.where(1, new TestMetadata(4)).call(observations::getCurrentObservation);

    assertThat(inside).isNotNull();
    assertThat(inside.getContextView()).isInstanceOf(ForwardPassObservationContext.class);
    assertThat(((ForwardPassObservationContext) inside.getContextView()).forwardContext())
        .isEqualTo(new ForwardContext(1, new TestMetadata(4), null));
    assertThat(observations.getCurrentObservation()).isNull();
  }

  @Test
  void aFailedPassIsAnObservationWithItsError() {
    BatchSizeTracker tracker = tracker();
    IllegalStateException failure = new IllegalStateException("nan in latents");

    assertThatThrownBy(
            () ->
                tracker
                    .where(2, new TestMetadata(8))
                    .run(
                        () -> {
                          throw failure;
                        }))
        .isSameAs(failure);

    assertThat(events).contains("error nan in latents").last().asString().startsWith("stop");
  }

  @Test
  void anUntimedPassMakesNoObservation() {
    BatchSizeTracker tracker = tracker();

    tracker.where(3, null).run(() -> events.add("forward"));

    assertThat(events).containsExactly("forward");
  }

  @Test
  void aCustomConventionNamesTheObservation() {
    observations.observationConfig().observationHandler(new RecordingHandler());
    BatchSizeTracker tracker =
        BatchSizeTracker.builder(new SimpleMeterRegistry())
            .observationRegistry(observations)
            .observationConvention(
                new DefaultForwardPassObservationConvention() {
                  @Override
                  public String getName() {
                    return "dit.step";
                  }

                  @Override
                  public KeyValues getLowCardinalityKeyValues(
                      ForwardPassObservationContext context) {
                    return super.getLowCardinalityKeyValues(context)
                        .and(KeyValue.of("model", "tiny"));
                  }
                })
            .build();

    tracker.where(3, new TestMetadata(2)).run(() -> {});

    assertThat(events).first().isEqualTo("start dit.step [batch.size=2, model=tiny]");
  }

  @Test
  void aHandlerThatThrowsNeverBreaksThePassNorItsTiming() {
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    observations
        .observationConfig()
        .observationHandler(
            new ObservationHandler<Observation.Context>() {
              @Override
              public void onStart(Observation.Context context) {
                events.add("start");
              }

              @Override
              public void onScopeOpened(Observation.Context context) {
                throw new IllegalStateException("tracer down");
              }

              @Override
              public void onStop(Observation.Context context) {
                throw new AssertionError("exporter down");
              }

              @Override
              public boolean supportsContext(Observation.Context context) {
                return true;
              }
            });
    BatchSizeTracker tracker =
        BatchSizeTracker.builder(meters).clock(clock).observationRegistry(observations).build();

    for (int i = 0; i < 2; i++) {
      assertThat(tracker.where(i, new TestMetadata(8)).call(() -> "latents")).isEqualTo("latents");
    }

    assertThat(events).containsExactly("start", "start");
    assertThat(observations.getCurrentObservation()).as("nothing left current").isNull();
    assertThat(meters.find("forward.pass").tag("batch.size", "8").timer().count()).isEqualTo(2);
    assertThat(log.messages(Level.WARNING)).singleElement().asString().contains("observation");
  }

  @Test
  void observationMetricsInTheSameRegistryDoNotClashWithTheForwardPassTimers() {
    PrometheusMeterRegistry prometheus = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    observations
        .observationConfig()
        .observationHandler(new DefaultMeterObservationHandler(prometheus));
    BatchSizeTracker tracker =
        BatchSizeTracker.builder(prometheus).observationRegistry(observations).build();

    for (int size : new int[] {1, 8, 8}) {
      tracker.where(0, new TestMetadata(size)).run(() -> {});
    }
    String scrape = prometheus.scrape();

    assertThat(scrape)
        .contains("forward_pass_seconds_count{batch_size=\"8\"} 2")
        .contains("forward_pass_seconds_count{batch_size=\"1\"} 1")
        .contains("forward_pass_observation_seconds_count{batch_size=\"8\",error=\"none\"} 2");
    assertThat(log.messages(Level.WARNING)).isEmpty();
  }
}
