package io.github.forwardcontext.example;

import io.github.forwardcontext.AttentionMetadata;

/**
 * The attention metadata of one denoising pass: what the attention layers need to know about the
 * shape of their input, and the batch size the pass is timed under.
 *
 * @param batchSize samples in the pass
 * @param sequenceLength latent tokens per sample
 * @param requestId the request the pass belongs to
 */
record DenoiseMetadata(int batchSize, int sequenceLength, int requestId)
    implements AttentionMetadata {}
