package io.github.forwardcontext.example.pipeline;

import io.github.forwardcontext.ForwardBatch;
import io.github.forwardcontext.example.model.HybridAttention;

/**
 * One generation request: what every stage of the request reads from its forward context when it
 * runs alone (text encoding and decoding of an unbatched run).
 *
 * @param id the request's index
 * @param prompt the text prompt
 * @param frames the number of video frames to generate
 * @param steps the number of denoising steps
 * @param batchSize how many samples the request generates at once
 */
public record Request(int id, String prompt, int frames, int steps, int batchSize)
    implements ForwardBatch {

  /** {@return latent tokens per sample: its resolution, the key of the batches it may join} */
  public int sequenceLength() {
    return frames * HybridAttention.TOKENS_PER_FRAME;
  }
}
