package io.github.forwardcontext;

import io.micrometer.observation.Observation;
import java.util.Objects;

/**
 * The Micrometer {@link Observation.Context} of one tracked forward pass: what an {@link
 * ForwardPassObservationConvention} reads to name the observation and its key values.
 *
 * <p>Unless otherwise specified, passing {@code null} to a method of this class throws {@link
 * NullPointerException}.
 *
 * @see BatchSizeTracker.Builder#observationRegistry(io.micrometer.observation.ObservationRegistry)
 */
public final class ForwardPassObservationContext extends Observation.Context {
  private final ForwardContext forwardContext;
  private final String batchSizeTag;

  /**
   * Creates the context of one pass.
   *
   * @param forwardContext the context the pass binds
   * @param batchSizeTag the value of the pass's {@value BatchSizeTracker#BATCH_SIZE_TAG} tag: the
   *     decimal batch size, its bin's upper bound when the tracker has bins, or {@value
   *     BatchSizeTracker#OTHER_TAG} beyond the tracker's cap
   */
  public ForwardPassObservationContext(ForwardContext forwardContext, String batchSizeTag) {
    this.forwardContext = Objects.requireNonNull(forwardContext, "forwardContext");
    this.batchSizeTag = Objects.requireNonNull(batchSizeTag, "batchSizeTag");
  }

  /** {@return the forward context the pass binds} */
  public ForwardContext forwardContext() {
    return forwardContext;
  }

  /**
   * {@return the pass's {@value BatchSizeTracker#BATCH_SIZE_TAG} tag value} It is bounded by the
   * tracker's cap, so it is fit for a low-cardinality key.
   */
  public String batchSizeTag() {
    return batchSizeTag;
  }
}
