package io.github.forwardcontext.example.pipeline;

import io.github.forwardcontext.AttentionMetadata;
import io.github.forwardcontext.Microbatches;
import io.github.forwardcontext.example.model.DenoiseMetadata;
import io.github.forwardcontext.example.model.Dit;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One denoising pass, run either whole or as overlapped microbatches (vLLM's dual-batch overlap):
 * the samples are split into contiguous groups, each group runs the transformer on its own virtual
 * thread under its own per-layer metadata (which names its first sample, so that it reads its
 * samples' timesteps), and the outputs are put back together. Samples never interact in the
 * transformer, so the result is the same.
 *
 * <p>The enclosing tracked pass is timed once under the whole batch size; the microbatches are not
 * timed apart.
 */
final class MicrobatchedForward {
  private final Dit dit;
  private final int microbatches;

  MicrobatchedForward(Dit dit, int microbatches) {
    this.dit = dit;
    this.microbatches = microbatches;
  }

  /** Predicts the velocity of {@code latents} under the bound context of the whole batch. */
  float[][] forward(float[][] latents, float[][] text, DenoiseMetadata shape) throws Exception {
    // A batch smaller than the microbatch count gets one microbatch per sample.
    int parts = Math.min(microbatches, latents.length);
    if (parts <= 1) {
      return dit.predict(latents, text);
    }
    List<float[][][]> inputs = new ArrayList<>();
    List<AttentionMetadata> metadata = new ArrayList<>();
    for (int part = 0; part < parts; part++) {
      int from = latents.length * part / parts;
      int to = latents.length * (part + 1) / parts;
      inputs.add(
          new float[][][] {
            Arrays.copyOfRange(latents, from, to), Arrays.copyOfRange(text, from, to)
          });
      metadata.add(
          dit.hybrid().metadata(new DenoiseMetadata(to - from, shape.sequenceLength(), from)));
    }
    List<float[][]> outputs =
        Microbatches.of(metadata)
            .call(part -> dit.predict(inputs.get(part)[0], inputs.get(part)[1]));
    float[][] velocity = new float[latents.length][];
    int at = 0;
    for (float[][] output : outputs) {
      System.arraycopy(output, 0, velocity, at, output.length);
      at += output.length;
    }
    return velocity;
  }
}
