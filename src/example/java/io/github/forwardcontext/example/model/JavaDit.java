package io.github.forwardcontext.example.model;

import io.github.forwardcontext.ForwardContext;
import io.github.forwardcontext.example.metrics.Tracing;
import io.github.forwardcontext.structured.FanOut;
import java.util.List;

/**
 * The plain-Java reference of {@link DitGraphs}: the same weights and the same ops in the same
 * order, in float arithmetic, so that ONNX Runtime can be checked against it. Each layer's heads
 * run as subtasks of a {@link FanOut} that read the pass's context, and are seen by an {@link
 * AttentionObserver}.
 */
final class JavaDit extends Dit {
  private final FanOut headFanOut;
  private final AttentionObserver observer;
  private final Tracing tracing; // null: no spans

  JavaDit(DitConfig config, AttentionObserver observer, Tracing tracing) {
    super(config);
    this.observer = observer;
    this.tracing = tracing;
    // Per-head work is CPU-bound: more threads than cores would only queue.
    FanOut heads =
        FanOut.named("attention-head")
            .withMaxParallelism(Runtime.getRuntime().availableProcessors());
    // With spans, the heads' subtasks carry the current observation: children of their layer's.
    this.headFanOut = tracing == null ? heads : heads.withThreadLocalContexts(tracing.contexts());
  }

  @Override
  float[][] run(Pass pass, float[][] latents, float[][] text) throws Exception {
    int batch = latents.length;
    int tokens = pass.shape().sequenceLength();
    int d = config.dim();
    float[][] h = new float[batch][];
    for (int layer = 0; layer < config.layers(); layer++) {
      for (int b = 0; b < batch; b++) {
        float[] mod = modulation(layer, pass.timesteps()[b], text[b]);
        float[] in = layer == 0 ? latents[b] : h[b];
        float[] out = new float[tokens * d];
        for (int i = 0; i < tokens; i++) {
          for (int c = 0; c < d; c++) {
            out[i * d + c] = in[i * d + c] + mod[c];
          }
        }
        h[b] = out;
      }
      int l = layer;
      float[][] normed = layerNorm(h, d);
      float[][] attended =
          tracing == null
              ? attention(l, pass, normed)
              : tracing.span("attention layer " + l, () -> attention(l, pass, normed));
      for (int b = 0; b < batch; b++) {
        add(h[b], matmul(attended[b], weights.wo[l], d, d));
        float[] u = matmul(layerNorm(h[b], d), weights.w1[l], d, config.hidden());
        for (int i = 0; i < u.length; i++) {
          u[i] = u[i] * sigmoid(u[i]);
        }
        add(h[b], matmul(u, weights.w2[l], config.hidden(), d));
      }
    }
    float[][] velocity = new float[batch][];
    for (int b = 0; b < batch; b++) {
      velocity[b] = matmul(layerNorm(h[b], d), weights.wOut, d, d);
    }
    return velocity;
  }

  /** {@code temb(t) . wt + text . wc}: the per-sample shift of every token of the block. */
  private float[] modulation(int layer, float timestep, float[] text) {
    int half = config.dim() / 2;
    float[] temb = new float[config.dim()];
    for (int i = 0; i < half; i++) {
      float arg = timestep * weights.frequencies[i];
      temb[i] = (float) Math.sin(arg);
      temb[half + i] = (float) Math.cos(arg);
    }
    float[] mt = matmul(temb, weights.wt[layer], config.dim(), config.dim());
    float[] mc = matmul(text, weights.wc[layer], DitConfig.TEXT_DIM, config.dim());
    for (int c = 0; c < mt.length; c++) {
      mt[c] += mc[c];
    }
    return mt;
  }

  /** Every head of one layer, each in its own subtask; the heads' outputs concatenated. */
  private float[][] attention(int layer, Pass pass, float[][] normed) throws Exception {
    List<float[][]> perHead =
        headFanOut.invokeAll(
            config.heads(),
            head ->
                tracing == null
                    ? attendOneHead(layer, head, normed)
                    : tracing.span(
                        "attention head " + head, () -> attendOneHead(layer, head, normed)));
    int tokens = pass.shape().sequenceLength();
    int d = config.dim();
    int hd = config.headDim();
    float[][] out = new float[normed.length][tokens * d];
    for (int head = 0; head < config.heads(); head++) {
      for (int b = 0; b < normed.length; b++) {
        for (int i = 0; i < tokens; i++) {
          System.arraycopy(perHead.get(head)[b], i * hd, out[b], i * d + head * hd, hd);
        }
      }
    }
    return out;
  }

  /** One head, in its own subtask: it reads the pass's context instead of taking parameters. */
  private float[][] attendOneHead(int layer, int head, float[][] normed) {
    ForwardContext context = ForwardContext.current();
    HybridAttention.Layer view = hybrid.read(context, layer);
    int tokens = view.shape().sequenceLength();
    int d = config.dim();
    int hd = config.headDim();
    float scale = (float) (1 / Math.sqrt(hd));
    float[] mask = view.mask();
    float[][] out = new float[normed.length][tokens * hd];
    for (int b = 0; b < normed.length; b++) {
      float[] q = project(normed[b], weights.wq[layer], tokens, head);
      float[] k = project(normed[b], weights.wk[layer], tokens, head);
      float[] v = project(normed[b], weights.wv[layer], tokens, head);
      float[][] w = new float[tokens][tokens];
      for (int i = 0; i < tokens; i++) {
        float max = Float.NEGATIVE_INFINITY;
        for (int j = 0; j < tokens; j++) {
          float dot = 0;
          for (int c = 0; c < hd; c++) {
            dot += q[i * hd + c] * k[j * hd + c];
          }
          w[i][j] = dot * scale + mask[i * tokens + j];
          max = Math.max(max, w[i][j]);
        }
        float sum = 0;
        for (int j = 0; j < tokens; j++) {
          w[i][j] = (float) Math.exp(w[i][j] - max);
          sum += w[i][j];
        }
        for (int j = 0; j < tokens; j++) {
          w[i][j] /= sum;
        }
        for (int j = 0; j < tokens; j++) {
          float wij = w[i][j];
          for (int c = 0; c < hd; c++) {
            out[b][i * hd + c] += wij * v[j * hd + c];
          }
        }
      }
      if (b == 0) {
        observer.attended(layer, head, context, w);
      }
    }
    return out;
  }

  /** One head's slice of {@code x . w}: {@code [token][headDim]}. */
  private float[] project(float[] x, float[] w, int tokens, int head) {
    int d = config.dim();
    int hd = config.headDim();
    int offset = head * hd;
    float[] out = new float[tokens * hd];
    for (int i = 0; i < tokens; i++) {
      for (int c = 0; c < d; c++) {
        float xv = x[i * d + c];
        int row = c * d + offset;
        for (int o = 0; o < hd; o++) {
          out[i * hd + o] += xv * w[row + o];
        }
      }
    }
    return out;
  }

  @Override
  public float[][] decode(float[][] latents, int tokens) {
    float[][] frames = new float[latents.length][];
    for (int b = 0; b < latents.length; b++) {
      float[] p = matmul(latents[b], weights.wDecode, config.dim(), DitConfig.PATCH_VALUES);
      for (int i = 0; i < p.length; i++) {
        p[i] = (float) Math.tanh(p[i]);
      }
      frames[b] = p;
    }
    return frames;
  }

  /** {@code x . w} for {@code x} of rows of width {@code in}, {@code w} {@code [in][out]}. */
  static float[] matmul(float[] x, float[] w, int in, int out) {
    int rows = x.length / in;
    float[] y = new float[rows * out];
    for (int r = 0; r < rows; r++) {
      for (int c = 0; c < in; c++) {
        float xv = x[r * in + c];
        int row = c * out;
        int at = r * out;
        for (int o = 0; o < out; o++) {
          y[at + o] += xv * w[row + o];
        }
      }
    }
    return y;
  }

  private static float[][] layerNorm(float[][] x, int d) {
    float[][] out = new float[x.length][];
    for (int b = 0; b < x.length; b++) {
      out[b] = layerNorm(x[b], d);
    }
    return out;
  }

  /** Each row of width {@code d} normalised to mean 0 and variance 1. */
  static float[] layerNorm(float[] x, int d) {
    float[] out = new float[x.length];
    for (int r = 0; r < x.length / d; r++) {
      float mean = 0;
      for (int c = 0; c < d; c++) {
        mean += x[r * d + c];
      }
      mean /= d;
      float var = 0;
      for (int c = 0; c < d; c++) {
        float dev = x[r * d + c] - mean;
        var += dev * dev;
      }
      float inv = (float) (1 / Math.sqrt(var / d + DitGraphs.LN_EPSILON));
      for (int c = 0; c < d; c++) {
        out[r * d + c] = (x[r * d + c] - mean) * inv;
      }
    }
    return out;
  }

  private static void add(float[] x, float[] delta) {
    for (int i = 0; i < x.length; i++) {
      x[i] += delta[i];
    }
  }

  private static float sigmoid(float v) {
    return (float) (1 / (1 + Math.exp(-v)));
  }
}
