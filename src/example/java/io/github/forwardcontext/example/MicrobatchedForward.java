package io.github.forwardcontext.example;

import io.github.forwardcontext.AttentionMetadata;
import io.github.forwardcontext.Microbatches;
import java.util.ArrayList;
import java.util.List;

/**
 * One denoising step, run either as one pass or as overlapped microbatches (vLLM's dual-batch
 * overlap): the samples are split into contiguous groups, each group runs the transformer on its
 * own virtual thread under its own per-layer metadata, and the outputs are put back together.
 * Samples never interact in the transformer, so the result is the same, bit for bit.
 *
 * <p>The enclosing tracked pass is timed once under the whole batch size; the microbatches are not
 * timed apart.
 */
final class MicrobatchedForward {
  private final TinyTransformer transformer;
  private final HybridAttention hybrid;
  private final int microbatches;

  MicrobatchedForward(TinyTransformer transformer, HybridAttention hybrid, int microbatches) {
    this.transformer = transformer;
    this.hybrid = hybrid;
    this.microbatches = microbatches;
  }

  /**
   * Predicts the noise of {@code latents} under the bound context; {@code shape} is the whole
   * batch's metadata, which the split gives each microbatch a share of.
   */
  float[][][] forward(float[][][] latents, float[] conditioning, DenoiseMetadata shape)
      throws Exception {
    // A batch smaller than the microbatch count gets one microbatch per sample.
    int parts = Math.min(microbatches, latents.length);
    if (parts <= 1) {
      return transformer.forward(latents, conditioning);
    }
    List<float[][][]> inputs = new ArrayList<>();
    List<AttentionMetadata> metadata = new ArrayList<>();
    for (int part = 0; part < parts; part++) {
      int from = latents.length * part / parts;
      int to = latents.length * (part + 1) / parts;
      float[][][] slice = new float[to - from][][];
      System.arraycopy(latents, from, slice, 0, slice.length);
      inputs.add(slice);
      metadata.add(
          hybrid.metadata(
              new DenoiseMetadata(slice.length, shape.sequenceLength(), shape.requestId())));
    }
    List<float[][][]> outputs =
        Microbatches.of(metadata).call(part -> transformer.forward(inputs.get(part), conditioning));
    float[][][] noise = new float[latents.length][][];
    int at = 0;
    for (float[][][] output : outputs) {
      System.arraycopy(output, 0, noise, at, output.length);
      at += output.length;
    }
    return noise;
  }
}
