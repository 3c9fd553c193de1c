package io.github.forwardcontext;

import io.github.forwardcontext.ForwardPassObservationDocumentation.HighCardinalityKeys;
import io.github.forwardcontext.ForwardPassObservationDocumentation.LowCardinalityKeys;
import io.micrometer.common.KeyValues;

/**
 * The default names of a tracked forward pass's observation: the name {@value #NAME} (not {@value
 * BatchSizeTracker#METER_NAME}, so that the timer a meter handler derives from the observation,
 * which carries an extra {@code error} tag, never clashes with the tracker's own timers), the
 * contextual name {@code "forward pass"}, the low-cardinality key {@code batch.size} and the
 * high-cardinality key {@code timestep}. Extend it to add key values.
 */
public class DefaultForwardPassObservationConvention implements ForwardPassObservationConvention {

  /** The observation name: {@value}. */
  public static final String NAME = "forward.pass.observation";

  static final DefaultForwardPassObservationConvention INSTANCE =
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
    return KeyValues.of(LowCardinalityKeys.BATCH_SIZE.withValue(context.batchSizeTag()));
  }

  @Override
  public KeyValues getHighCardinalityKeyValues(ForwardPassObservationContext context) {
    return KeyValues.of(
        HighCardinalityKeys.TIMESTEP.withValue(
            Integer.toString(context.forwardContext().currentTimestep())));
  }
}
