package io.github.forwardcontext.example.model;

import io.github.forwardcontext.AttentionMetadata;

/**
 * The attention metadata of one denoising pass, as its full-attention layers read it: the shape of
 * their input, and the batch size the pass is timed under.
 *
 * @param batchSize samples in the pass
 * @param sequenceLength latent tokens per sample
 * @param firstSample the index, in the pass's {@link DenoiseBatch}, of its first sample: 0, or the
 *     offset of a microbatch
 */
public record DenoiseMetadata(int batchSize, int sequenceLength, int firstSample)
    implements AttentionMetadata {

  /** Metadata of a whole batch. */
  public DenoiseMetadata(int batchSize, int sequenceLength) {
    this(batchSize, sequenceLength, 0);
  }
}
