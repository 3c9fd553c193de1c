package io.github.forwardcontext.observation;

import io.github.forwardcontext.BatchSizeTracker;
import io.github.forwardcontext.ForwardContext;
import io.micrometer.common.docs.KeyName;
import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationConvention;
import io.micrometer.observation.docs.ObservationDocumentation;

/**
 * The observations this library makes, in Micrometer's documentation form: one per tracked forward
 * pass when a {@link BatchSizeTracker} has an {@linkplain
 * BatchSizeTracker.Builder#observationRegistry observation registry}.
 */
public enum ForwardPassObservationDocumentation implements ObservationDocumentation {

  /**
   * One tracked forward pass: from just before its context is bound to just after the clock stops.
   * Named {@value DefaultForwardPassObservationConvention#NAME} by default.
   */
  FORWARD_PASS {
    @Override
    public Class<? extends ObservationConvention<? extends Observation.Context>>
        getDefaultConvention() {
      return DefaultForwardPassObservationConvention.class;
    }

    @Override
    public KeyName[] getLowCardinalityKeyNames() {
      return LowCardinalityKeys.values();
    }

    @Override
    public KeyName[] getHighCardinalityKeyNames() {
      return HighCardinalityKeys.values();
    }
  };

  /** The low-cardinality keys of a pass observation. */
  public enum LowCardinalityKeys implements KeyName {
    /**
     * The pass's batch size as the tracker tags it: the decimal size, its bin's upper bound with
     * {@linkplain BatchSizeTracker.Builder#batchSizeBins(int...) bins}, or {@value
     * BatchSizeTracker#OTHER_TAG} beyond the cap (or beyond the largest bin).
     */
    BATCH_SIZE {
      @Override
      public String asString() {
        return "batch.size";
      }
    }
  }

  /** The high-cardinality keys of a pass observation. */
  public enum HighCardinalityKeys implements KeyName {
    /** The pass's {@linkplain ForwardContext#currentTimestep() timestep}. */
    TIMESTEP {
      @Override
      public String asString() {
        return "timestep";
      }
    }
  }
}
