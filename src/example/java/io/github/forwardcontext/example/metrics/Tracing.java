package io.github.forwardcontext.example.metrics;

import io.github.forwardcontext.ThreadLocalContexts;
import io.micrometer.context.ContextRegistry;
import io.micrometer.context.ContextSnapshotFactory;
import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationRegistry;
import io.micrometer.observation.contextpropagation.ObservationThreadLocalAccessor;
import io.micrometer.tracing.handler.DefaultTracingObservationHandler;
import io.micrometer.tracing.otel.bridge.OtelBaggageManager;
import io.micrometer.tracing.otel.bridge.OtelCurrentTraceContext;
import io.micrometer.tracing.otel.bridge.OtelTracer;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * {@code --trace}: spans through Micrometer Tracing's OpenTelemetry bridge, kept in memory, and the
 * span tree of one request printed after the run. A service would export them (OTLP) instead.
 *
 * <p>Each request is an observation; the tracker makes each forward pass one (a child of its
 * request); each attention layer is one inside its pass, and its heads, forked by a {@code FanOut}
 * that carries the current observation into its subtasks ({@link ThreadLocalContexts}), are
 * children of their layer.
 */
public final class Tracing implements AutoCloseable {
  private final InMemorySpanExporter exporter = InMemorySpanExporter.create();
  private final SdkTracerProvider tracerProvider =
      SdkTracerProvider.builder().addSpanProcessor(SimpleSpanProcessor.create(exporter)).build();
  private final ObservationRegistry observations = ObservationRegistry.create();
  private final ThreadLocalContexts contexts;

  /** Spans kept in memory. */
  public Tracing() {
    OtelCurrentTraceContext current = new OtelCurrentTraceContext();
    OtelTracer tracer =
        new OtelTracer(
            tracerProvider.get("forward-context-example"),
            current,
            event -> {},
            new OtelBaggageManager(current, List.of(), List.of()));
    observations
        .observationConfig()
        .observationHandler(new DefaultTracingObservationHandler(tracer));
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

  public ObservationRegistry observations() {
    return observations;
  }

  public ThreadLocalContexts contexts() {
    return contexts;
  }

  /** A span named {@code name} around {@code work}, a child of the current one. */
  public <T> T span(String name, Observation.CheckedCallable<T, Exception> work) throws Exception {
    return Observation.createNotStarted("example.span", observations)
        .contextualName(name)
        .observeChecked(work);
  }

  /**
   * Prints the span tree under the span named {@code rootName}: every span with its attributes and
   * duration, except that of the root's children only the first {@code fullChildren} are shown
   * whole; the others are counted.
   */
  public void printTree(PrintStream out, String rootName, int fullChildren) {
    List<SpanData> spans = exporter.getFinishedSpanItems();
    Map<String, List<SpanData>> children =
        spans.stream().collect(Collectors.groupingBy(SpanData::getParentSpanId));
    children
        .values()
        .forEach(list -> list.sort(Comparator.comparingLong(SpanData::getStartEpochNanos)));
    SpanData root =
        spans.stream().filter(s -> s.getName().equals(rootName)).findFirst().orElse(null);
    if (root == null) {
      out.println("  (no span named " + rootName + ")");
      return;
    }
    out.println("  " + describe(root));
    List<SpanData> top = children.getOrDefault(root.getSpanId(), new ArrayList<>());
    for (int i = 0; i < top.size() && i < fullChildren; i++) {
      print(out, top.get(i), children, "    ");
    }
    if (top.size() > fullChildren) {
      int more = top.size() - fullChildren;
      out.println(
          more == 1
              ? "    ... and 1 more span like it"
              : "    ... and " + more + " more spans like these");
    }
  }

  private static void print(
      PrintStream out, SpanData span, Map<String, List<SpanData>> children, String indent) {
    out.println(indent + describe(span));
    for (SpanData child : children.getOrDefault(span.getSpanId(), List.of())) {
      print(out, child, children, indent + "  ");
    }
  }

  private static String describe(SpanData span) {
    String attributes =
        span.getAttributes().asMap().entrySet().stream()
            .map(e -> e.getKey().getKey() + "=" + e.getValue())
            .sorted()
            .collect(Collectors.joining(", "));
    return String.format(
        "%s%s  %.2f ms",
        span.getName(),
        attributes.isEmpty() ? "" : " {" + attributes + "}",
        (span.getEndEpochNanos() - span.getStartEpochNanos()) / 1e6);
  }

  @Override
  public void close() {
    tracerProvider.close();
  }
}
