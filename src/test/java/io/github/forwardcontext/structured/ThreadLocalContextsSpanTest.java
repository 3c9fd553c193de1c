package io.github.forwardcontext.structured;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.forwardcontext.BatchSizeTracker;
import io.github.forwardcontext.InMemoryTracing;
import io.github.forwardcontext.NoContextLeftBound;
import io.github.forwardcontext.ThreadLocalContexts;
import io.micrometer.context.ContextRegistry;
import io.micrometer.context.ContextSnapshotFactory;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationRegistry;
import io.micrometer.observation.contextpropagation.ObservationThreadLocalAccessor;
import io.micrometer.tracing.handler.DefaultTracingObservationHandler;
import io.micrometer.tracing.otel.bridge.OtelTracer;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.sdk.trace.data.SpanData;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Spans for real (Micrometer Tracing's OpenTelemetry bridge, the OpenTelemetry SDK and its
 * in-memory exporter): a request span around three tracked passes that each fan out 8 subtasks. Run
 * in both FanOut modes, like {@link FanOutTest}.
 */
class ThreadLocalContextsSpanTest implements NoContextLeftBound {

  private final InMemoryTracing tracing = new InMemoryTracing();
  private final ObservationRegistry observations = ObservationRegistry.create();
  private final BatchSizeTracker tracker;
  private final ThreadLocalContexts contexts;

  ThreadLocalContextsSpanTest() {
    OtelTracer tracer = tracing.tracer();
    observations
        .observationConfig()
        .observationHandler(new DefaultTracingObservationHandler(tracer));
    tracker =
        BatchSizeTracker.builder(new SimpleMeterRegistry())
            .observationRegistry(observations)
            .build();
    // The current Observation is the context carried: with it, its span.
    contexts =
        ThreadLocalContexts.using(
            ContextSnapshotFactory.builder()
                .contextRegistry(
                    new ContextRegistry()
                        .registerThreadLocalAccessor(
                            new ObservationThreadLocalAccessor(observations)))
                .clearMissing(true)
                .build());
  }

  @AfterEach
  void closeTracing() {
    tracing.close();
  }

  private void request(FanOut subtasks) {
    Observation.createNotStarted("request", observations)
        .observe(
            () -> {
              for (int t : new int[] {981, 961, 941}) {
                try {
                  tracker
                      .where(t, () -> 8)
                      .call(
                          () ->
                              subtasks.invokeAll(
                                  8,
                                  i ->
                                      Observation.createNotStarted("subtask", observations)
                                          .observe(() -> i)));
                } catch (Exception e) {
                  throw new AssertionError(e);
                }
              }
            });
  }

  @Test
  void passSpansAreChildrenOfTheRequestAndSubtaskSpansChildrenOfTheirPass() {
    request(FanOut.named("subtask").withThreadLocalContexts(contexts));

    List<SpanData> spans = tracing.spans();
    SpanData request = single(spans, "request");
    List<SpanData> passes = named(spans, "forward pass");
    List<SpanData> subtasks = named(spans, "subtask");

    assertThat(passes).hasSize(3);
    assertThat(passes)
        .allSatisfy(
            pass -> {
              assertThat(pass.getParentSpanId()).isEqualTo(request.getSpanId());
              assertThat(pass.getTraceId()).isEqualTo(request.getTraceId());
              assertThat(pass.getAttributes().get(AttributeKey.stringKey("batch.size")))
                  .isEqualTo("8");
            });
    assertThat(passes)
        .extracting(pass -> pass.getAttributes().get(AttributeKey.stringKey("timestep")))
        .containsExactlyInAnyOrder("981", "961", "941");
    assertThat(subtasks).hasSize(24);
    Map<String, Long> childrenPerParent =
        subtasks.stream()
            .collect(Collectors.groupingBy(SpanData::getParentSpanId, Collectors.counting()));
    assertThat(childrenPerParent)
        .containsOnlyKeys(passes.stream().map(SpanData::getSpanId).toList())
        .containsValues(8L, 8L, 8L);
  }

  @Test
  void withoutThreadLocalContextsSubtaskSpansLoseTheirPass() {
    request(FanOut.named("subtask"));

    List<SpanData> spans = tracing.spans();
    List<String> passIds = named(spans, "forward pass").stream().map(SpanData::getSpanId).toList();

    assertThat(passIds).hasSize(3);
    assertThat(named(spans, "subtask"))
        .hasSize(24)
        .allSatisfy(
            subtask -> {
              assertThat(passIds).doesNotContain(subtask.getParentSpanId());
              assertThat(subtask.getParentSpanContext().isValid()).isFalse();
            });
  }

  private static List<SpanData> named(List<SpanData> spans, String name) {
    return spans.stream().filter(span -> span.getName().equals(name)).toList();
  }

  private static SpanData single(List<SpanData> spans, String name) {
    List<SpanData> found = named(spans, name);
    assertThat(found).as("spans named %s", name).hasSize(1);
    return found.get(0);
  }
}
