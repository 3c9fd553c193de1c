package io.github.forwardcontext.example.model;

import io.github.forwardcontext.AttentionMetadata;

/**
 * The attention metadata of one text-encoding pass: the length of each prompt in tokens. The batch
 * is padded to the longest; the encoder builds its attention mask from these lengths.
 *
 * @param lengths tokens of each prompt of the batch, in batch order
 */
public record TextMetadata(int[] lengths) implements AttentionMetadata {
  @Override
  public int batchSize() {
    return lengths.length;
  }

  /** {@return the longest prompt's length: the padded length of the batch} */
  public int paddedLength() {
    int max = 0;
    for (int length : lengths) {
      max = Math.max(max, length);
    }
    return max;
  }
}
