package io.github.forwardcontext.tracing;

import io.github.forwardcontext.batching.Batch;
import io.github.forwardcontext.batching.DynamicBatcher;
import io.github.forwardcontext.observation.ForwardPassObservationContext;
import io.micrometer.observation.Observation;
import io.micrometer.tracing.Link;
import io.micrometer.tracing.Span;
import io.micrometer.tracing.TraceContext;
import io.micrometer.tracing.Tracer;
import io.micrometer.tracing.handler.DefaultTracingObservationHandler;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Supplier;

/**
 * Micrometer Tracing's {@link DefaultTracingObservationHandler}, whose span of a batched forward
 * pass has a <em>link</em> to the span of each request the batch served: the OpenTelemetry way (and
 * the messaging conventions' way) to record one operation that serves many. Register it on the
 * tracker's {@code ObservationRegistry} in place of the default handler, and give the batcher its
 * {@link #submitterContext()}:
 *
 * {@snippet class="io.github.forwardcontext.snippets.TracingSnippets" region="links"}
 *
 * <p>A batch's pass runs on the batcher's own thread, so its span is a child of no request: it is
 * the root of a trace of its own (or a child of whatever span is current on the dispatcher thread,
 * which is none unless the application makes one). The spans made inside the pass are its children.
 * Each request's span is linked once, however many of its items the batch holds. Passes that are
 * not batched, and every other observation, get exactly the spans the default handler makes.
 *
 * <p>The links are read from {@link Batch#submitterContexts()}: the {@link TraceContext} that was
 * current, as the tracer sees it, on each submitter's thread when it submitted. Elements that are
 * not trace contexts (the batcher captures nothing without {@link
 * DynamicBatcher.Builder#submitterContext}) are left out.
 *
 * <p>This class is the library's one use of {@code io.micrometer:micrometer-tracing}, an optional
 * dependency: add it (with a bridge, such as {@code micrometer-tracing-bridge-otel}) to use it.
 */
public class BatchLinkingTracingObservationHandler extends DefaultTracingObservationHandler {

  /**
   * Creates the handler.
   *
   * @param tracer the tracer that makes the spans
   */
  public BatchLinkingTracingObservationHandler(Tracer tracer) {
    super(Objects.requireNonNull(tracer, "tracer"));
  }

  /**
   * {@return what a {@link DynamicBatcher} captures from each submitter for the links} The trace
   * context of the span current on the submitter's thread, or {@code null} if none is; pass it to
   * {@link DynamicBatcher.Builder#submitterContext}.
   */
  public Supplier<TraceContext> submitterContext() {
    Tracer tracer = getTracer();
    return () -> {
      Span current = tracer.currentSpan();
      return current == null ? null : current.context();
    };
  }

  @Override
  public void onStart(Observation.Context context) {
    List<TraceContext> links = links(context);
    if (links.isEmpty()) {
      super.onStart(context);
      return;
    }
    Span.Builder builder = getTracer().spanBuilder();
    Span parent = getParentSpan(context);
    if (parent != null) {
      builder.setParent(parent.context());
    }
    for (TraceContext link : links) {
      builder.addLink(new Link(link));
    }
    getTracingContext(context).setSpan(builder.start());
  }

  /** {@return the distinct submitter trace contexts of a batched pass, in item order} */
  static List<TraceContext> links(Observation.Context context) {
    if (!(context instanceof ForwardPassObservationContext pass)) {
      return List.of();
    }
    Batch<?> batch =
        pass.forwardContext().forwardBatch() instanceof Batch<?> own
            ? own
            : Batch.current().orElse(null); // a context mapping put a forward batch of its own
    if (batch == null) {
      return List.of();
    }
    List<TraceContext> links = new ArrayList<>();
    for (Object submitter : batch.submitterContexts()) {
      if (submitter instanceof TraceContext trace && !contains(links, trace)) {
        links.add(trace);
      }
    }
    return links;
  }

  private static boolean contains(List<TraceContext> links, TraceContext trace) {
    for (TraceContext link : links) {
      if (link.traceId().equals(trace.traceId()) && link.spanId().equals(trace.spanId())) {
        return true;
      }
    }
    return false;
  }
}
