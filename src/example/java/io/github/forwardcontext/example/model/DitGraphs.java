package io.github.forwardcontext.example.model;

import static io.github.forwardcontext.example.model.OnnxGraph.integer;
import static io.github.forwardcontext.example.model.OnnxGraph.ints;
import static io.github.forwardcontext.example.model.OnnxGraph.real;

import java.util.Arrays;

/**
 * The diffusion transformer's ONNX graphs, built in Java at start-up from {@link DitWeights}: one
 * graph per block and one for the decoder. The batch and token dimensions are symbolic, so one
 * session serves every batch size and both resolutions.
 *
 * <p>A block's inputs: the latents {@code x[batch, tokens, dim]}, the per-sample timesteps {@code
 * t[batch, 1]}, the text embeddings {@code c[batch, 384]} and the additive attention mask {@code
 * mask[tokens, tokens]} (0 where a token sees another, -1e9 where not). Its output {@code y} has
 * the shape of {@code x}. {@link JavaDit} computes the same, op for op.
 */
final class DitGraphs {
  static final float LN_EPSILON = 1e-5f;

  private DitGraphs() {}

  /** {@return the serialized graph of block {@code layer}} */
  static byte[] block(DitWeights w, int layer) {
    DitConfig c = w.config;
    int d = c.dim();
    boolean last = layer == c.layers() - 1;
    OnnxGraph g = new OnnxGraph("block" + layer);
    g.input("x", "batch", "tokens", d)
        .input("t", "batch", 1)
        .input("c", "batch", DitConfig.TEXT_DIM)
        .input("mask", "tokens", "tokens")
        .output("y", "batch", "tokens", d);
    float[] ones = new float[d];
    Arrays.fill(ones, 1f);
    g.constant("ones", ones, d);
    g.constant("zeros", new float[d], d);
    g.constant("freq", w.frequencies, 1, d / 2);
    g.constant("wt", w.wt[layer], d, d);
    g.constant("wc", w.wc[layer], DitConfig.TEXT_DIM, d);
    g.constant("wq", w.wq[layer], d, d);
    g.constant("wk", w.wk[layer], d, d);
    g.constant("wv", w.wv[layer], d, d);
    g.constant("wo", w.wo[layer], d, d);
    g.constant("w1", w.w1[layer], d, c.hidden());
    g.constant("w2", w.w2[layer], c.hidden(), d);
    g.constant("scale", new float[] {(float) (1 / Math.sqrt(c.headDim()))});
    g.longs("heads_shape", 0, 0, c.heads(), c.headDim());
    g.longs("model_shape", 0, 0, d);
    g.longs("axis1", 1);

    // Per-sample modulation: sinusoidal embedding of t, plus the text embedding, projected.
    g.node("Mul", "arg", "t", "freq");
    g.node("Sin", "sin", "arg");
    g.node("Cos", "cos", "arg");
    g.node("Concat", "temb", new String[] {"sin", "cos"}, integer("axis", 1));
    g.node("MatMul", "mt", "temb", "wt");
    g.node("MatMul", "mc", "c", "wc");
    g.node("Add", "m", "mt", "mc");
    g.node("Unsqueeze", "m3", "m", "axis1");
    g.node("Add", "h", "x", "m3");

    // Multi-head self-attention under the layer's mask.
    layerNorm(g, "h", "n");
    g.node("MatMul", "q0", "n", "wq");
    g.node("MatMul", "k0", "n", "wk");
    g.node("MatMul", "v0", "n", "wv");
    g.node("Reshape", "q1", "q0", "heads_shape");
    g.node("Reshape", "k1", "k0", "heads_shape");
    g.node("Reshape", "v1", "v0", "heads_shape");
    g.node("Transpose", "q", new String[] {"q1"}, ints("perm", 0, 2, 1, 3));
    g.node("Transpose", "kt", new String[] {"k1"}, ints("perm", 0, 2, 3, 1));
    g.node("Transpose", "v", new String[] {"v1"}, ints("perm", 0, 2, 1, 3));
    g.node("MatMul", "s0", "q", "kt");
    g.node("Mul", "s1", "s0", "scale");
    g.node("Add", "s", "s1", "mask");
    g.node("Softmax", "a", new String[] {"s"}, integer("axis", -1));
    g.node("MatMul", "o0", "a", "v");
    g.node("Transpose", "o1", new String[] {"o0"}, ints("perm", 0, 2, 1, 3));
    g.node("Reshape", "o2", "o1", "model_shape");
    g.node("MatMul", "o", "o2", "wo");
    g.node("Add", "h2", "h", "o");

    // SiLU MLP.
    layerNorm(g, "h2", "n2");
    g.node("MatMul", "u", "n2", "w1");
    g.node("Sigmoid", "su", "u");
    g.node("Mul", "gu", "u", "su");
    g.node("MatMul", "mlp", "gu", "w2");
    if (!last) {
      g.node("Add", "y", "h2", "mlp");
    } else {
      // The last block ends with the output head: a final norm and projection to the velocity.
      g.constant("wout", w.wOut, d, d);
      g.node("Add", "h3", "h2", "mlp");
      layerNorm(g, "h3", "n3");
      g.node("MatMul", "y", "n3", "wout");
    }
    return g.toBytes();
  }

  /** {@return the serialized decoder: {@code frames = tanh(z . wDecode)}, a patch per token} */
  static byte[] decoder(DitWeights w) {
    int d = w.config.dim();
    OnnxGraph g = new OnnxGraph("decoder");
    g.input("z", "batch", "tokens", d).output("frames", "batch", "tokens", DitConfig.PATCH_VALUES);
    g.constant("wd", w.wDecode, d, DitConfig.PATCH_VALUES);
    g.node("MatMul", "p", "z", "wd");
    g.node("Tanh", "frames", "p");
    return g.toBytes();
  }

  private static void layerNorm(OnnxGraph g, String input, String output) {
    g.node(
        "LayerNormalization",
        output,
        new String[] {input, "ones", "zeros"},
        integer("axis", -1),
        real("epsilon", LN_EPSILON));
  }
}
