package io.github.forwardcontext.example.model;

import ai.onnxruntime.OrtException;
import io.github.forwardcontext.BatchSizeTracker;
import io.github.forwardcontext.ForwardContext;
import io.github.forwardcontext.example.metrics.Tracing;

/**
 * The diffusion transformer and its decoder, on one of two runtimes with the same weights and math:
 * ONNX Runtime ({@link OnnxDit}, the default) or the plain-Java reference ({@link JavaDit}).
 *
 * <p>This class is where the model reads its forward context, between the runtime's calls: the
 * per-sample timesteps of the batch from its {@link DenoiseBatch}, and each layer's own attention
 * metadata (full or windowed), which becomes that layer's mask.
 */
public abstract sealed class Dit implements AutoCloseable permits OnnxDit, JavaDit {
  /** The runtime that runs the transformer. */
  public enum Backend {
    /** ONNX Runtime: each block one session, built in Java at start-up. */
    ONNX,
    /** The plain-Java reference of the same math. */
    JAVA
  }

  final DitWeights weights;
  final DitConfig config;
  final HybridAttention hybrid;

  Dit(DitConfig config) {
    this.config = config;
    this.weights = new DitWeights(config);
    this.hybrid = new HybridAttention(config.layers());
  }

  /**
   * {@return a transformer on {@code backend}}
   *
   * @param ortThreads ONNX Runtime's intra-op threads per session run
   * @param observer sees the reference's attention heads
   * @param tracing spans of the reference's layers and heads, or {@code null}
   */
  public static Dit create(
      Backend backend,
      DitConfig config,
      int ortThreads,
      AttentionObserver observer,
      Tracing tracing) {
    return switch (backend) {
      case ONNX -> new OnnxDit(config, ortThreads);
      case JAVA -> new JavaDit(config, observer, tracing);
    };
  }

  /** {@return the hybrid layout of the layers} */
  public HybridAttention hybrid() {
    return hybrid;
  }

  /** {@return the dimensions} */
  public DitConfig config() {
    return config;
  }

  /** The inputs of one pass, read from the bound context. */
  record Pass(DenoiseMetadata shape, float[] timesteps, HybridAttention.Layer[] layers) {}

  /**
   * Predicts the velocity of each sample, under the bound context: its {@link DenoiseBatch} gives
   * the samples' timesteps, its per-layer metadata the shape and each layer's attention.
   *
   * @param latents {@code [sample][token * dim]}
   * @param text {@code [sample][384]}, the text embedding of each sample's prompt (zeros for the
   *     unconditional pass of guidance)
   * @return the velocity, shaped as {@code latents}
   * @throws Exception if the runtime fails
   */
  public final float[][] predict(float[][] latents, float[][] text) throws Exception {
    ForwardContext context = ForwardContext.current();
    DenoiseBatch batch = context.forwardBatch(DenoiseBatch.class);
    HybridAttention.Layer[] layers = new HybridAttention.Layer[config.layers()];
    for (int layer = 0; layer < layers.length; layer++) {
      layers[layer] = hybrid.read(context, layer);
    }
    DenoiseMetadata shape = layers[0].shape();
    if (shape.batchSize() != latents.length
        || latents[0].length != shape.sequenceLength() * config.dim()) {
      throw new IllegalStateException(
          "attention metadata "
              + shape
              + " does not match the input: "
              + latents.length
              + " samples of "
              + latents[0].length / config.dim()
              + " tokens");
    }
    float[] timesteps = new float[latents.length];
    for (int s = 0; s < timesteps.length; s++) {
      timesteps[s] = batch.timesteps()[shape.firstSample() + s];
    }
    return run(new Pass(shape, timesteps, layers), latents, text);
  }

  /**
   * The same pass as {@link #predict}, with its inputs passed by hand instead of read from a bound
   * context: the same runtime calls on the same sessions, as a caller without forward-context would
   * make them. The baseline of the JMH benchmark {@code OnnxStepBenchmark}. ONNX Runtime only: the
   * Java reference's heads read the context themselves, in their subtasks.
   *
   * @param timesteps the timestep of each sample
   * @param latents {@code [sample][token * dim]}
   * @param text {@code [sample][384]}
   * @param tokens latent tokens per sample
   * @return the velocity, shaped as {@code latents}
   * @throws UnsupportedOperationException on the Java reference
   * @throws Exception if the runtime fails
   */
  public final float[][] predictUnbound(
      float[] timesteps, float[][] latents, float[][] text, int tokens) throws Exception {
    if (!(this instanceof OnnxDit)) {
      throw new UnsupportedOperationException(
          "predictUnbound runs on ONNX Runtime only: the Java reference's heads read the bound"
              + " forward context");
    }
    DenoiseMetadata shape = new DenoiseMetadata(latents.length, tokens);
    HybridAttention.Layer[] layers = new HybridAttention.Layer[config.layers()];
    for (int layer = 0; layer < layers.length; layer++) {
      layers[layer] = HybridAttention.layer(shape, layer);
    }
    return run(new Pass(shape, timesteps, layers), latents, text);
  }

  abstract float[][] run(Pass pass, float[][] latents, float[][] text) throws Exception;

  /**
   * Decodes final latents into frames: a patch of {@link DitConfig#PATCH_VALUES} values per token.
   *
   * @param latents {@code [sample][token * dim]}, all of {@code tokens} tokens
   * @param tokens latent tokens per sample
   * @return {@code [sample][token * PATCH_VALUES]}
   * @throws Exception if the runtime fails
   */
  public abstract float[][] decode(float[][] latents, int tokens) throws Exception;

  /**
   * Runs every session once at each of {@code batchSizes} and {@code tokens}, so that the first
   * request does not pay for the runtime's first runs, each as a pass of {@code tracker}; the
   * caller runs it inside {@link BatchSizeTracker#untimed}.
   *
   * @throws Exception if the runtime fails
   */
  public Void warmUp(int[] tokens, int[] batchSizes, BatchSizeTracker tracker) throws Exception {
    for (int t : tokens) {
      for (int b : batchSizes) {
        float[][] latents = new float[b][t * config.dim()];
        float[][] text = new float[b][DitConfig.TEXT_DIM];
        tracker
            .where(
                1000,
                hybrid.metadata(new DenoiseMetadata(b, t)),
                DenoiseBatch.ofRequest(-1, b, 1000))
            .call(() -> predict(latents, text));
        decode(latents, t);
      }
    }
    return null;
  }

  @Override
  public void close() throws OrtException {}
}
