package io.github.forwardcontext.example;

import io.github.forwardcontext.ForwardContext;
import io.github.forwardcontext.structured.FanOut;
import java.util.List;
import java.util.Random;

/**
 * A miniature diffusion transformer: pre-norm blocks of multi-head self-attention and an MLP, with
 * the timestep modulating each block. The arithmetic is real (softmax(QKᵀ/√d)·V on float arrays);
 * only the sizes are small.
 *
 * <p>Nothing is passed down for the timestep or the attention metadata: the attention layers read
 * {@link ForwardContext#current()}, including in the per-head subtasks they fork.
 */
final class TinyTransformer {
  private final int layers;
  private final int heads;
  private final int dim;
  private final int headDim;
  private final float[][][] wq;
  private final float[][][] wk;
  private final float[][][] wv;
  private final float[][][] wo;
  private final float[][][] w1;
  private final float[][][] w2;
  private final FanOut headFanOut;
  private final AttentionObserver observer;
  private final HybridAttention hybrid;

  private final Tracing tracing; // null: no spans

  TinyTransformer(int layers, int heads, int dim, long seed, AttentionObserver observer) {
    this(layers, heads, dim, seed, observer, null);
  }

  TinyTransformer(
      int layers, int heads, int dim, long seed, AttentionObserver observer, Tracing tracing) {
    this.layers = layers;
    this.heads = heads;
    this.dim = dim;
    this.headDim = dim / heads;
    Random random = new Random(seed);
    this.wq = weights(random, layers, dim, dim);
    this.wk = weights(random, layers, dim, dim);
    this.wv = weights(random, layers, dim, dim);
    this.wo = weights(random, layers, dim, dim);
    this.w1 = weights(random, layers, dim, 2 * dim);
    this.w2 = weights(random, layers, 2 * dim, dim);
    // Per-head work is CPU-bound: more threads than cores would only queue.
    FanOut headFanOut =
        FanOut.named("attention-head")
            .withMaxParallelism(Runtime.getRuntime().availableProcessors());
    // With spans, the heads' subtasks carry the current observation: their spans are children of
    // their layer's.
    this.headFanOut =
        tracing == null ? headFanOut : headFanOut.withThreadLocalContexts(tracing.contexts());
    this.tracing = tracing;
    this.observer = observer;
    this.hybrid = new HybridAttention(layers);
  }

  HybridAttention hybrid() {
    return hybrid;
  }

  int dim() {
    return dim;
  }

  /**
   * Predicts the noise in {@code latents} ({@code [sample][token][channel]}) under the bound
   * forward context's timestep.
   */
  float[][][] forward(float[][][] latents, float[] conditioning) throws Exception {
    float[] timestep = timestepEmbedding(ForwardContext.current().currentTimestep(), dim);
    float[][][] x = new float[latents.length][][];
    for (int b = 0; b < latents.length; b++) {
      x[b] = new float[latents[b].length][dim];
      for (int s = 0; s < latents[b].length; s++) {
        for (int c = 0; c < dim; c++) {
          x[b][s][c] = latents[b][s][c] + timestep[c] + conditioning[c];
        }
      }
    }
    for (int layer = 0; layer < layers; layer++) {
      addInPlace(x, attention(layer, x));
      addInPlace(x, mlp(layer, x));
    }
    return x;
  }

  private float[][][] attention(int layer, float[][][] x) throws Exception {
    float[][][] normed = layerNorm(x);
    List<float[][][]> perHead =
        tracing == null
            ? headFanOut.invokeAll(heads, head -> attendOneHead(layer, head, normed))
            : tracing.span(
                "attention layer " + layer,
                () ->
                    headFanOut.invokeAll(
                        heads,
                        head ->
                            tracing.span(
                                "attention head " + head,
                                () -> attendOneHead(layer, head, normed))));
    float[][][] out = new float[x.length][][];
    for (int b = 0; b < x.length; b++) {
      int seq = x[b].length;
      float[][] concat = new float[seq][dim];
      for (int head = 0; head < heads; head++) {
        for (int s = 0; s < seq; s++) {
          System.arraycopy(perHead.get(head)[b][s], 0, concat[s], head * headDim, headDim);
        }
      }
      out[b] = matmul(concat, wo[layer]);
    }
    return out;
  }

  /** One head, in its own subtask: it reads the pass's context instead of taking parameters. */
  private float[][][] attendOneHead(int layer, int head, float[][][] x) {
    ForwardContext context = ForwardContext.current();
    // Hybrid model: this layer reads its own backend's metadata, by layer name.
    HybridAttention.Layer view = hybrid.read(context, layer);
    DenoiseMetadata meta = view.shape();
    if (meta.batchSize() != x.length || meta.sequenceLength() != x[0].length) {
      throw new IllegalStateException(
          "attention metadata " + meta + " does not match the input shape");
    }
    // Late timesteps (little noise left) attend more sharply.
    float sharpness = 1f + 0.5f * (1f - context.currentTimestep() / 1000f);
    float scale = sharpness / (float) Math.sqrt(headDim);
    int offset = head * headDim;
    float[][][] out = new float[x.length][][];
    for (int b = 0; b < x.length; b++) {
      float[][] q = project(x[b], wq[layer], offset);
      float[][] k = project(x[b], wk[layer], offset);
      float[][] v = project(x[b], wv[layer], offset);
      int seq = q.length;
      float[][] weights = new float[seq][seq];
      for (int i = 0; i < seq; i++) {
        float max = Float.NEGATIVE_INFINITY;
        for (int j = 0; j < seq; j++) {
          float dot = 0;
          for (int d = 0; d < headDim; d++) {
            dot += q[i][d] * k[j][d];
          }
          weights[i][j] = view.sees(i, j) ? dot * scale : Float.NEGATIVE_INFINITY;
          max = Math.max(max, weights[i][j]);
        }
        float sum = 0;
        for (int j = 0; j < seq; j++) {
          weights[i][j] = (float) Math.exp(weights[i][j] - max);
          sum += weights[i][j];
        }
        for (int j = 0; j < seq; j++) {
          weights[i][j] /= sum;
        }
      }
      out[b] = new float[seq][headDim];
      for (int i = 0; i < seq; i++) {
        for (int j = 0; j < seq; j++) {
          float w = weights[i][j];
          for (int d = 0; d < headDim; d++) {
            out[b][i][d] += w * v[j][d];
          }
        }
      }
      if (b == 0) {
        observer.attended(layer, head, context, weights);
      }
    }
    return out;
  }

  private float[][][] mlp(int layer, float[][][] x) {
    float[][][] normed = layerNorm(x);
    float[][][] out = new float[x.length][][];
    for (int b = 0; b < x.length; b++) {
      float[][] hidden = matmul(normed[b], w1[layer]);
      for (float[] row : hidden) {
        for (int c = 0; c < row.length; c++) {
          row[c] = gelu(row[c]);
        }
      }
      out[b] = matmul(hidden, w2[layer]);
    }
    return out;
  }

  private float[][] project(float[][] x, float[][] w, int offset) {
    float[][] out = new float[x.length][headDim];
    for (int s = 0; s < x.length; s++) {
      for (int c = 0; c < x[s].length; c++) {
        float xv = x[s][c];
        float[] wRow = w[c];
        for (int d = 0; d < headDim; d++) {
          out[s][d] += xv * wRow[offset + d];
        }
      }
    }
    return out;
  }

  private static float[][] matmul(float[][] x, float[][] w) {
    int outDim = w[0].length;
    float[][] out = new float[x.length][outDim];
    for (int s = 0; s < x.length; s++) {
      for (int c = 0; c < w.length; c++) {
        float xv = x[s][c];
        float[] wRow = w[c];
        for (int o = 0; o < outDim; o++) {
          out[s][o] += xv * wRow[o];
        }
      }
    }
    return out;
  }

  private static float[][][] layerNorm(float[][][] x) {
    float[][][] out = new float[x.length][][];
    for (int b = 0; b < x.length; b++) {
      out[b] = new float[x[b].length][];
      for (int s = 0; s < x[b].length; s++) {
        float[] row = x[b][s];
        float mean = 0;
        for (float v : row) {
          mean += v;
        }
        mean /= row.length;
        float var = 0;
        for (float v : row) {
          var += (v - mean) * (v - mean);
        }
        float inv = (float) (1 / Math.sqrt(var / row.length + 1e-5));
        out[b][s] = new float[row.length];
        for (int c = 0; c < row.length; c++) {
          out[b][s][c] = (row[c] - mean) * inv;
        }
      }
    }
    return out;
  }

  private static void addInPlace(float[][][] x, float[][][] delta) {
    for (int b = 0; b < x.length; b++) {
      for (int s = 0; s < x[b].length; s++) {
        for (int c = 0; c < x[b][s].length; c++) {
          x[b][s][c] += delta[b][s][c];
        }
      }
    }
  }

  private static float gelu(float v) {
    return (float) (0.5 * v * (1 + Math.tanh(0.7978845608 * (v + 0.044715 * v * v * v))));
  }

  static float[] timestepEmbedding(int timestep, int dim) {
    float[] e = new float[dim];
    int half = dim / 2;
    for (int i = 0; i < half; i++) {
      double frequency = Math.exp(-Math.log(10_000) * i / half);
      e[i] = (float) Math.sin(timestep * frequency);
      e[half + i] = (float) Math.cos(timestep * frequency);
    }
    return e;
  }

  private static float[][][] weights(Random random, int layers, int in, int out) {
    float[][][] w = new float[layers][in][out];
    float std = (float) (1 / Math.sqrt(in));
    for (float[][] layer : w) {
      for (float[] row : layer) {
        for (int o = 0; o < out; o++) {
          row[o] = (float) random.nextGaussian() * std;
        }
      }
    }
    return w;
  }
}
