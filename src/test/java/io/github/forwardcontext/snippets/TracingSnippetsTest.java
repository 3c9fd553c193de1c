package io.github.forwardcontext.snippets;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.forwardcontext.BatchSizeTracker;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationRegistry;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The README's tracing code works as it says, with the OpenTelemetry SDK in memory. */
class TracingSnippetsTest {
  private final InMemorySpanExporter exporter = InMemorySpanExporter.create();
  private final SdkTracerProvider tracerProvider =
      SdkTracerProvider.builder().addSpanProcessor(SimpleSpanProcessor.create(exporter)).build();

  @AfterEach
  void close() {
    tracerProvider.close();
  }

  @Test
  void theSetupMakesEachTimedPassASpanAndTheNumericHandlerAddsNumbers() {
    ObservationRegistry observations = TracingSnippets.setup(tracerProvider);
    observations
        .observationConfig()
        .observationHandler(new TracingSnippets.NumericPassAttributes());
    BatchSizeTracker tracker =
        BatchSizeTracker.builder(new SimpleMeterRegistry())
            .observationRegistry(observations)
            .build();

    Observation.createNotStarted("request", observations)
        .contextualName("request")
        .observe(() -> tracker.where(981, () -> 4).run(() -> {}));

    SpanData pass =
        exporter.getFinishedSpanItems().stream()
            .filter(s -> s.getName().equals("forward pass"))
            .findFirst()
            .orElseThrow();
    SpanData request =
        exporter.getFinishedSpanItems().stream()
            .filter(s -> s.getName().equals("request"))
            .findFirst()
            .orElseThrow();
    assertThat(pass.getParentSpanId()).isEqualTo(request.getSpanId());
    // Micrometer's key values arrive as strings; the handler's attributes as numbers.
    assertThat(pass.getAttributes().get(AttributeKey.stringKey("batch.size"))).isEqualTo("4");
    assertThat(pass.getAttributes().get(AttributeKey.longKey("forward.batch_size"))).isEqualTo(4L);
    assertThat(pass.getAttributes().get(AttributeKey.longKey("forward.timestep"))).isEqualTo(981L);
  }
}
