package io.github.forwardcontext.example.model;

/**
 * The diffusion transformer's dimensions.
 *
 * @param layers transformer blocks; even ones attend fully, odd ones within a window of frames
 * @param heads attention heads per block
 * @param dim model width: channels of a latent token; a multiple of {@code heads}
 * @param seed seed of the weights
 */
public record DitConfig(int layers, int heads, int dim, long seed) {
  /** The width of the text encoder's embeddings, which condition every block. */
  public static final int TEXT_DIM = TextEncoder.DIM;

  /** The MLP's hidden width, as a multiple of {@code dim}. */
  public static final int MLP_RATIO = 2;

  /** Values per decoded patch: a 4 x 4 RGB patch per latent token. */
  public static final int PATCH_VALUES = 48;

  /** {@return the width of one head} */
  public int headDim() {
    return dim / heads;
  }

  /** {@return the MLP's hidden width} */
  public int hidden() {
    return dim * MLP_RATIO;
  }
}
