package io.github.forwardcontext.example;

import io.github.forwardcontext.ForwardBatch;

/**
 * One generation request, the pipeline's forward batch: what every stage of the request reads from
 * its forward context.
 *
 * @param id the request's index
 * @param prompt the text prompt
 * @param frames the number of video frames to generate
 * @param steps the number of denoising steps
 * @param batchSize how many samples the request generates at once
 */
record Request(int id, String prompt, int frames, int steps, int batchSize)
    implements ForwardBatch {

  /** Latent tokens per frame: each frame is a 2 x 4 grid of patches. */
  static final int TOKENS_PER_FRAME = 8;

  int sequenceLength() {
    return frames * TOKENS_PER_FRAME;
  }
}
