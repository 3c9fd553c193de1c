package io.github.forwardcontext.snippets;

import io.github.forwardcontext.AttentionMetadata;
import io.github.forwardcontext.ForwardBatch;
import io.github.forwardcontext.ForwardContext;
import io.github.forwardcontext.snippets.Model.FlashMetadata;
import io.github.forwardcontext.snippets.Model.Request;
import io.github.forwardcontext.snippets.Model.Transformer;

final class ContextSnippets {
  private ContextSnippets() {}

  static void binding(
      int timestep,
      FlashMetadata attnMetadata,
      Request request,
      Transformer model,
      float[] latents) {
    // @start region="binding"
    ForwardContext.where(timestep, attnMetadata, request).run(() -> model.forward(latents));

    // anywhere below model.forward, on the same thread or in a structured subtask:
    ForwardContext ctx = ForwardContext.current();
    int t = ctx.currentTimestep();
    // @end
    System.out.println(t);
  }

  static float[] crossAttention(float[] x) {
    return x;
  }

  static void partialOverride(AttentionMetadata crossAttentionMetadata, float[] x) {
    // @start region="partial-override"
    ForwardContext.whereAttnMetadata(crossAttentionMetadata).run(() -> crossAttention(x));
    // @end
  }

  // @start region="metadata"
  record FlashAttentionMetadata(int numTokens, int[] seqLens) implements AttentionMetadata {
    @Override
    public int batchSize() {
      return numTokens;
    }
  }

  // @end

  static int metadataRead() {
    // @start region="metadata-read"
    FlashAttentionMetadata meta =
        ForwardContext.current().attnMetadata(FlashAttentionMetadata.class);
    // @end
    return meta.numTokens();
  }

  // @start region="forward-batch"
  static final class DenoiseRequest implements ForwardBatch {
    final float[] latents;
    final float guidanceScale;

    // ... whatever else the pipeline keeps per request

    DenoiseRequest(float[] latents, float guidanceScale) {
      this.latents = latents;
      this.guidanceScale = guidanceScale;
    }
  }

  // @end

  static float forwardBatchRead() {
    // @start region="forward-batch-read"
    DenoiseRequest request = ForwardContext.current().forwardBatch(DenoiseRequest.class);
    // @end
    return request.guidanceScale;
  }
}
