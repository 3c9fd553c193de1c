package io.github.forwardcontext.example.model;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.forwardcontext.ForwardContext;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The transformer's two runtimes, on one pass of samples at different timesteps. */
class DitRuntimesTest {
  private static final DitConfig CONFIG = new DitConfig(3, 4, 64, 5);

  @AfterEach
  void noContextLeftBound() {
    assertThat(ForwardContext.isBound()).isFalse();
  }

  static double relativeError(float[][] actual, float[][] expected) {
    double diff = 0;
    double norm = 0;
    for (int b = 0; b < expected.length; b++) {
      for (int i = 0; i < expected[b].length; i++) {
        double d = actual[b][i] - expected[b][i];
        diff += d * d;
        norm += (double) expected[b][i] * expected[b][i];
      }
    }
    return Math.sqrt(diff / norm);
  }

  private static float[][] gaussian(int rows, int width, long seed) {
    Random random = new Random(seed);
    float[][] x = new float[rows][width];
    for (float[] row : x) {
      for (int i = 0; i < width; i++) {
        row[i] = (float) random.nextGaussian();
      }
    }
    return x;
  }

  private static float[][] predict(Dit dit, float[][] latents, float[][] text, int[] timesteps)
      throws Exception {
    int tokens = latents[0].length / CONFIG.dim();
    return ForwardContext.where(
            timesteps[0],
            dit.hybrid().metadata(new DenoiseMetadata(latents.length, tokens)),
            new DenoiseBatch(new int[latents.length], timesteps))
        .call(() -> dit.predict(latents, text));
  }

  @Test
  void onnxRuntimeAndTheJavaReferenceAgreeWithin1e4() throws Exception {
    float[][] latents = gaussian(3, 32 * CONFIG.dim(), 1);
    float[][] text = gaussian(3, DitConfig.TEXT_DIM, 2);
    int[] timesteps = {1000, 500, 50};
    try (Dit onnx = Dit.create(Dit.Backend.ONNX, CONFIG, 1, AttentionObserver.NONE, null);
        Dit java = Dit.create(Dit.Backend.JAVA, CONFIG, 1, AttentionObserver.NONE, null)) {
      float[][] a = predict(onnx, latents, text, timesteps);
      float[][] b = predict(java, latents, text, timesteps);

      assertThat(relativeError(a, b)).isLessThan(1e-4);
      assertThat(relativeError(onnx.decode(a, 32), java.decode(a, 32))).isLessThan(1e-4);
    }
  }

  @Test
  void eachSampleOfABatchAtItsOwnTimestepGetsWhatItGetsAlone() throws Exception {
    float[][] latents = gaussian(3, 16 * CONFIG.dim(), 3);
    float[][] text = gaussian(3, DitConfig.TEXT_DIM, 4);
    int[] timesteps = {1000, 600, 200};
    try (Dit onnx = Dit.create(Dit.Backend.ONNX, CONFIG, 1, AttentionObserver.NONE, null)) {
      float[][] batched = predict(onnx, latents, text, timesteps);
      for (int s = 0; s < 3; s++) {
        float[][] alone =
            predict(
                onnx,
                new float[][] {latents[s]},
                new float[][] {text[s]},
                new int[] {timesteps[s]});
        assertThat(relativeError(new float[][] {batched[s]}, alone)).isLessThan(1e-5);
      }
      // The timestep matters: the same sample at another step predicts something else.
      float[][] other =
          predict(onnx, new float[][] {latents[0]}, new float[][] {text[0]}, new int[] {10});
      assertThat(relativeError(other, new float[][] {batched[0]})).isGreaterThan(1e-3);
    }
  }
}
