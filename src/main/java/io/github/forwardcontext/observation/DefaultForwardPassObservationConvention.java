package io.github.forwardcontext.observation;

import io.github.forwardcontext.BatchSizeTracker;
import io.github.forwardcontext.observation.ForwardPassObservationDocumentation.HighCardinalityKeys;
import io.github.forwardcontext.observation.ForwardPassObservationDocumentation.LowCardinalityKeys;
import io.micrometer.common.KeyValue;
import io.micrometer.common.KeyValues;

/**
 * The default names of a tracked forward pass's observation: the name {@value #NAME} (not {@value
 * BatchSizeTracker#METER_NAME}, so that the timer a meter handler derives from the observation,
 * which carries an extra {@code error} tag, never clashes with the tracker's own timers), the
 * contextual name {@code "forward pass"}, the low-cardinality keys of the tracker's {@linkplain
 * BatchSizeTracker#tags() common tags} and {@code batch.size}, and the high-cardinality key {@code
 * timestep}. Extend it to add key values.
 *
 * <p>Micrometer's key values are strings, so a tracing bridge makes {@code batch.size} and {@code
 * timestep} string attributes of the span. A handler of the application's, registered after the
 * tracing handler, can add numeric ones: read {@link
 * ForwardPassObservationContext#forwardContext()} in its {@code onStart} and set them on the span
 * it finds in the context's {@code TracingObservationHandler.TracingContext}.
 */
public class DefaultForwardPassObservationConvention implements ForwardPassObservationConvention {

  /** The observation name: {@value}. */
  public static final String NAME = "forward.pass.observation";

  /** The convention a tracker uses when it is given none. */
  public static final DefaultForwardPassObservationConvention INSTANCE =
      new DefaultForwardPassObservationConvention();

  /** Creates the convention; subclasses add key values. */
  public DefaultForwardPassObservationConvention() {}

  @Override
  public String getName() {
    return NAME;
  }

  @Override
  public String getContextualName(ForwardPassObservationContext context) {
    return "forward pass";
  }

  @Override
  public KeyValues getLowCardinalityKeyValues(ForwardPassObservationContext context) {
    KeyValue batchSize = LowCardinalityKeys.BATCH_SIZE.withValue(context.batchSizeTag());
    if (context.trackerTags().stream().findAny().isEmpty()) {
      return KeyValues.of(batchSize);
    }
    return KeyValues.of(context.trackerTags(), t -> t.getKey(), t -> t.getValue()).and(batchSize);
  }

  @Override
  public KeyValues getHighCardinalityKeyValues(ForwardPassObservationContext context) {
    return KeyValues.of(
        HighCardinalityKeys.TIMESTEP.withValue(
            Integer.toString(context.forwardContext().currentTimestep())));
  }
}
