package io.github.forwardcontext.tracing;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.forwardcontext.BatchSizeTracker;
import io.github.forwardcontext.ForwardBatch;
import io.github.forwardcontext.ForwardContext;
import io.github.forwardcontext.InMemoryTracing;
import io.github.forwardcontext.batching.DynamicBatcher;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationRegistry;
import io.micrometer.tracing.otel.bridge.OtelTracer;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.sdk.trace.data.LinkData;
import io.opentelemetry.sdk.trace.data.SpanData;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Span links through a batch, for real: Micrometer Tracing's OpenTelemetry bridge and the
 * OpenTelemetry SDK with its in-memory exporter.
 */
class BatchLinkingTracingObservationHandlerTest {
  private final InMemoryTracing inMemory = new InMemoryTracing();
  private final OtelTracer tracer = inMemory.tracer();
  private final ObservationRegistry observations = ObservationRegistry.create();
  private final BatchLinkingTracingObservationHandler tracing;
  private final BatchSizeTracker tracker;

  BatchLinkingTracingObservationHandlerTest() {
    tracing = new BatchLinkingTracingObservationHandler(tracer);
    observations.observationConfig().observationHandler(tracing);
    tracker =
        BatchSizeTracker.builder(new SimpleMeterRegistry())
            .observationRegistry(observations)
            .build();
  }

  @AfterEach
  void closeTracing() {
    inMemory.close();
  }

  private SpanData span(String name) {
    return inMemory.spans().stream()
        .filter(s -> s.getName().equals(name))
        .findFirst()
        .orElseThrow(() -> new AssertionError("no span " + name + " in " + names()));
  }

  private List<String> names() {
    return inMemory.spans().stream().map(SpanData::getName).toList();
  }

  /** Two requests, each in its own span on its own thread, whose items share one batch. */
  private Map<String, String> twoRequestsThroughOneBatch(DynamicBatcher<String, String> batcher)
      throws Exception {
    Map<String, String> results = new ConcurrentHashMap<>();
    List<Thread> callers = new ArrayList<>();
    for (String request : List.of("request-a", "request-b")) {
      callers.add(
          Thread.ofVirtual()
              .start(
                  () ->
                      Observation.createNotStarted(request, observations)
                          .contextualName(request)
                          .observe(
                              () -> {
                                try {
                                  results.put(request, batcher.submit(request));
                                } catch (Exception e) {
                                  throw new AssertionError(e);
                                }
                              })));
    }
    for (Thread caller : callers) {
      caller.join();
    }
    return results;
  }

  private DynamicBatcher<String, String> batcher(boolean capture, boolean ownForwardBatch) {
    DynamicBatcher.Builder<String, String> builder =
        DynamicBatcher.<String, String>builder(
                tracker,
                items -> {
                  // a span made inside the pass
                  Observation.createNotStarted("layer", observations)
                      .contextualName("layer")
                      .observe(() -> {});
                  return items.stream().map(i -> i + "!").toList();
                })
            .name("links-" + capture)
            .maxBatchSize(2) // runs when both items are queued
            .maxWait(Duration.ofMinutes(1));
    if (capture) {
      builder.submitterContext(tracing.submitterContext());
    }
    if (ownForwardBatch) {
      // The pipeline's own forward batch in place of the Batch: the links come from
      // Batch.current().
      builder.context(batch -> ForwardContext.where(0, batch::size, new ForwardBatch() {}));
    }
    return builder.build();
  }

  @Test
  void theSpanOfABatchedPassLinksToTheSpanOfEachRequestItServed() throws Exception {
    try (DynamicBatcher<String, String> batcher = batcher(true, false)) {
      assertThat(twoRequestsThroughOneBatch(batcher))
          .containsEntry("request-a", "request-a!")
          .containsEntry("request-b", "request-b!");
    }

    SpanData pass = span("forward pass");
    SpanData a = span("request-a");
    SpanData b = span("request-b");
    assertThat(pass.getLinks())
        .extracting(LinkData::getSpanContext)
        .extracting(SpanContext::getSpanId)
        .containsExactlyInAnyOrder(a.getSpanId(), b.getSpanId());
    // The pass is a child of no request; the span made inside it is its child.
    assertThat(pass.getParentSpanContext().isValid()).isFalse();
    assertThat(span("layer").getParentSpanId()).isEqualTo(pass.getSpanId());
    assertThat(pass.getAttributes().asMap().toString()).contains("batch.size=2");
  }

  @Test
  void aContextMappingWithAForwardBatchOfItsOwnKeepsTheLinks() throws Exception {
    try (DynamicBatcher<String, String> batcher = batcher(true, true)) {
      twoRequestsThroughOneBatch(batcher);
    }
    assertThat(span("forward pass").getLinks())
        .extracting(LinkData::getSpanContext)
        .extracting(SpanContext::getSpanId)
        .containsExactlyInAnyOrder(span("request-a").getSpanId(), span("request-b").getSpanId());
  }

  @Test
  void withoutTheSubmitterContextABatchedPassHasNoLinks() throws Exception {
    try (DynamicBatcher<String, String> batcher = batcher(false, false)) {
      twoRequestsThroughOneBatch(batcher);
    }
    assertThat(span("forward pass").getLinks()).isEmpty();
  }

  @Test
  void anUnbatchedPassIsAChildOfTheRequestsSpanWithoutLinks() {
    Observation.createNotStarted("request", observations)
        .contextualName("request")
        .observe(
            () -> tracker.where(0, () -> 1).run(() -> ForwardContext.current().currentTimestep()));

    SpanData pass = span("forward pass");
    assertThat(pass.getLinks()).isEmpty();
    assertThat(pass.getParentSpanId()).isEqualTo(span("request").getSpanId());
  }
}
