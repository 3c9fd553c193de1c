package io.github.forwardcontext.observation;

import io.github.forwardcontext.BatchSizeTracker;
import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationConvention;

/**
 * Names a tracked forward pass's {@link Observation} and its key values. Implement it to replace
 * {@link DefaultForwardPassObservationConvention} through {@link
 * BatchSizeTracker.Builder#observationConvention(ForwardPassObservationConvention)}.
 */
public interface ForwardPassObservationConvention
    extends ObservationConvention<ForwardPassObservationContext> {

  @Override
  default boolean supportsContext(Observation.Context context) {
    return context instanceof ForwardPassObservationContext;
  }
}
