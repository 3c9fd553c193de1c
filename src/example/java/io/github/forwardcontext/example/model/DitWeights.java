package io.github.forwardcontext.example.model;

import java.util.Random;

/**
 * The diffusion transformer's weights, the example's own: drawn from a seeded Gaussian, each matrix
 * row-major {@code [in][out]} in one flat array, scaled by {@code 1/sqrt(in)}. The ONNX graphs and
 * the plain-Java reference read the same arrays.
 */
final class DitWeights {
  final DitConfig config;
  final float[][] wt; // [layer] timestep embedding -> modulation, [dim][dim]
  final float[][] wc; // [layer] text embedding -> modulation, [TEXT_DIM][dim]
  final float[][] wq;
  final float[][] wk;
  final float[][] wv;
  final float[][] wo;
  final float[][] w1; // [dim][hidden]
  final float[][] w2; // [hidden][dim]
  final float[] wOut; // [dim][dim], after the last block's final norm
  final float[] wDecode; // [dim][PATCH_VALUES]
  final float[] frequencies; // [dim / 2], of the sinusoidal timestep embedding

  DitWeights(DitConfig config) {
    this.config = config;
    int d = config.dim();
    int l = config.layers();
    Random random = new Random(config.seed());
    wt = layers(random, l, d, d, 1);
    wc = layers(random, l, DitConfig.TEXT_DIM, d, 1);
    wq = layers(random, l, d, d, 1);
    wk = layers(random, l, d, d, 1);
    wv = layers(random, l, d, d, 1);
    wo = layers(random, l, d, d, 1);
    w1 = layers(random, l, d, config.hidden(), 1);
    w2 = layers(random, l, config.hidden(), d, 0.5f);
    wOut = matrix(random, d, d, 0.5f);
    wDecode = matrix(random, d, DitConfig.PATCH_VALUES, 1);
    int half = d / 2;
    frequencies = new float[half];
    for (int i = 0; i < half; i++) {
      frequencies[i] = (float) Math.exp(-Math.log(10_000) * i / half);
    }
  }

  private static float[][] layers(Random random, int layers, int in, int out, float gain) {
    float[][] w = new float[layers][];
    for (int i = 0; i < layers; i++) {
      w[i] = matrix(random, in, out, gain);
    }
    return w;
  }

  private static float[] matrix(Random random, int in, int out, float gain) {
    float[] w = new float[in * out];
    float std = (float) (gain / Math.sqrt(in));
    for (int i = 0; i < w.length; i++) {
      w[i] = (float) random.nextGaussian() * std;
    }
    return w;
  }
}
