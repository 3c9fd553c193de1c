package io.github.forwardcontext.example.model;

import io.github.forwardcontext.AttentionMetadata;

/**
 * The metadata of the hybrid model's second attention backend: local attention, where a token
 * attends only to the tokens of the frames within {@code windowFrames} of its own.
 *
 * @param shape the pass's input shape, as the full-attention layers see it
 * @param windowFrames how many frames before and after its own a token sees
 */
public record WindowedMetadata(DenoiseMetadata shape, int windowFrames)
    implements AttentionMetadata {

  @Override
  public int batchSize() {
    return shape.batchSize();
  }
}
