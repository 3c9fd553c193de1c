package io.github.forwardcontext.snippets;

import io.github.forwardcontext.BatchSizeTracker;
import io.github.forwardcontext.ForwardContext;
import io.github.forwardcontext.batching.DynamicBatcher;
import io.github.forwardcontext.observation.ForwardPassObservationContext;
import io.github.forwardcontext.tracing.BatchLinkingTracingObservationHandler;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationHandler;
import io.micrometer.observation.ObservationRegistry;
import io.micrometer.tracing.Span;
import io.micrometer.tracing.handler.TracingObservationHandler;
import io.micrometer.tracing.otel.bridge.OtelBaggageManager;
import io.micrometer.tracing.otel.bridge.OtelCurrentTraceContext;
import io.micrometer.tracing.otel.bridge.OtelTracer;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import java.util.List;
import java.util.function.Function;

/** The README's tracing code: the OpenTelemetry bridge wired up, and span links through a batch. */
final class TracingSnippets {
  private TracingSnippets() {}

  static ObservationRegistry setup(SdkTracerProvider tracerProvider) {
    // @start region="setup"
    // Micrometer Tracing's OpenTelemetry bridge over the application's SdkTracerProvider
    OtelCurrentTraceContext currentTraceContext = new OtelCurrentTraceContext();
    OtelTracer tracer =
        new OtelTracer(
            tracerProvider.get("my-service"),
            currentTraceContext,
            event -> {}, // no Spring-style event publisher
            new OtelBaggageManager(currentTraceContext, List.of(), List.of()));

    ObservationRegistry observations = ObservationRegistry.create();
    observations
        .observationConfig()
        .observationHandler(new BatchLinkingTracingObservationHandler(tracer));
    // @end
    return observations;
  }

  static DynamicBatcher<String, float[]> links(
      MeterRegistry meterRegistry,
      OtelTracer tracer,
      ObservationRegistry observations,
      Function<List<String>, List<float[]>> embed) {
    // @start region="links"
    BatchLinkingTracingObservationHandler tracing =
        new BatchLinkingTracingObservationHandler(tracer);
    observations.observationConfig().observationHandler(tracing); // in place of the default one

    BatchSizeTracker tracker =
        BatchSizeTracker.builder(meterRegistry).observationRegistry(observations).build();
    DynamicBatcher<String, float[]> batcher =
        DynamicBatcher.builder(tracker, embed::apply)
            .submitterContext(tracing.submitterContext()) // each submitter's span, for the links
            .build();
    // @end
    return batcher;
  }

  // @start region="numeric"
  /** Numeric span attributes for each pass; register it after the tracing handler. */
  static final class NumericPassAttributes
      implements ObservationHandler<ForwardPassObservationContext> {
    @Override
    public void onStart(ForwardPassObservationContext context) {
      TracingObservationHandler.TracingContext tracing =
          context.get(TracingObservationHandler.TracingContext.class);
      Span span = tracing == null ? null : tracing.getSpan(); // started by the tracing handler
      if (span != null) {
        ForwardContext pass = context.forwardContext();
        span.tag("forward.timestep", (long) pass.currentTimestep());
        if (pass.attnMetadata() != null) {
          span.tag("forward.batch_size", (long) pass.attnMetadata().batchSize());
        }
      }
    }

    @Override
    public boolean supportsContext(Observation.Context context) {
      return context instanceof ForwardPassObservationContext;
    }
  }

  // @end
}
