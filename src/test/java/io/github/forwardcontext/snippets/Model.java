package io.github.forwardcontext.snippets;

import io.github.forwardcontext.AttentionMetadata;
import io.github.forwardcontext.ForwardBatch;
import io.github.forwardcontext.ForwardContext;

/** Stand-ins for the model code the snippets call: just enough to compile and run. */
final class Model {
  private Model() {}

  /** A denoising request: the per-request state a pass carries. */
  record Request(String id, float guidanceScale) implements ForwardBatch {}

  /** An attention backend's metadata. */
  record FlashMetadata(int numTokens, int[] seqLens) implements AttentionMetadata {
    @Override
    public int batchSize() {
      return numTokens;
    }
  }

  /** A transformer whose layers read the forward context. */
  static final class Transformer {
    float[] forward(float[] latents) {
      int t = ForwardContext.current().currentTimestep();
      float[] out = latents.clone();
      for (int i = 0; i < out.length; i++) {
        out[i] = out[i] * 0.99f + t * 1e-6f;
      }
      return out;
    }
  }

  static float[] attend(FlashMetadata meta, int timestep, int head) {
    return new float[] {meta.numTokens(), timestep, head};
  }
}
