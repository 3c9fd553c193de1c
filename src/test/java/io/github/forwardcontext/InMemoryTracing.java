package io.github.forwardcontext;

import io.micrometer.tracing.otel.bridge.OtelBaggageManager;
import io.micrometer.tracing.otel.bridge.OtelCurrentTraceContext;
import io.micrometer.tracing.otel.bridge.OtelTracer;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import java.util.List;

/**
 * Spans for real in tests: the OpenTelemetry SDK with its in-memory exporter, behind Micrometer
 * Tracing's OpenTelemetry bridge. Close it after the test.
 */
public final class InMemoryTracing implements AutoCloseable {
  private final InMemorySpanExporter exporter = InMemorySpanExporter.create();
  private final SdkTracerProvider tracerProvider =
      SdkTracerProvider.builder().addSpanProcessor(SimpleSpanProcessor.create(exporter)).build();
  private final OtelTracer tracer;

  /** Starts an SDK whose spans stay in memory. */
  public InMemoryTracing() {
    OtelCurrentTraceContext current = new OtelCurrentTraceContext();
    tracer =
        new OtelTracer(
            tracerProvider.get("forward-context-test"),
            current,
            event -> {},
            new OtelBaggageManager(current, List.of(), List.of()));
  }

  /** {@return the bridge's tracer} */
  public OtelTracer tracer() {
    return tracer;
  }

  /** {@return the spans that have ended so far} */
  public List<SpanData> spans() {
    return exporter.getFinishedSpanItems();
  }

  @Override
  public void close() {
    tracerProvider.close();
  }
}
