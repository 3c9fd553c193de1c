package io.github.forwardcontext.observation;

import io.github.forwardcontext.BatchSizeTracker;
import io.github.forwardcontext.ForwardContext;
import io.micrometer.core.instrument.Tags;
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
  private final Tags trackerTags;

  /**
   * Creates the context of one pass of a tracker without common tags.
   *
   * @param forwardContext the context the pass binds
   * @param batchSizeTag the value of the pass's {@value BatchSizeTracker#BATCH_SIZE_TAG} tag: the
   *     decimal batch size, its bin's upper bound when the tracker has bins, or {@value
   *     BatchSizeTracker#OTHER_TAG} beyond the tracker's cap
   */
  public ForwardPassObservationContext(ForwardContext forwardContext, String batchSizeTag) {
    this(forwardContext, batchSizeTag, Tags.empty());
  }

  /**
   * Creates the context of one pass.
   *
   * @param forwardContext the context the pass binds
   * @param batchSizeTag the value of the pass's {@value BatchSizeTracker#BATCH_SIZE_TAG} tag: the
   *     decimal batch size, its bin's upper bound when the tracker has bins, or {@value
   *     BatchSizeTracker#OTHER_TAG} beyond the tracker's cap
   * @param trackerTags the {@linkplain BatchSizeTracker#tags() common tags} of the tracker that
   *     times the pass
   */
  public ForwardPassObservationContext(
      ForwardContext forwardContext, String batchSizeTag, Tags trackerTags) {
    this.forwardContext = Objects.requireNonNull(forwardContext, "forwardContext");
    this.batchSizeTag = Objects.requireNonNull(batchSizeTag, "batchSizeTag");
    this.trackerTags = Objects.requireNonNull(trackerTags, "trackerTags");
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

  /**
   * {@return the common tags of the tracker that times the pass} ({@code stage=denoise}, say),
   * empty when it has none. They are fixed per tracker, so they are fit for low-cardinality keys;
   * the default convention adds each of them as one.
   */
  public Tags trackerTags() {
    return trackerTags;
  }
}
