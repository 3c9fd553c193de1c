package io.github.forwardcontext.snippets;

import io.github.forwardcontext.AttentionMetadata;
import io.github.forwardcontext.ForwardBatch;
import io.github.forwardcontext.ForwardContext;
import io.github.forwardcontext.snippets.Model.FlashMetadata;
import io.github.forwardcontext.snippets.Model.Request;
import io.github.forwardcontext.snippets.Model.Transformer;
import io.github.forwardcontext.structured.FanOut;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

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

  static float[] loadWeights() {
    return new float[] {ForwardContext.current().currentTimestep()};
  }

  static float[] quantize(float[] weights) {
    return weights;
  }

  static void taskWrapping(int t, AttentionMetadata meta, ForwardBatch batch) {
    // @start region="task-wrapping"
    ExecutorService io = ForwardContext.taskWrapping(Executors.newFixedThreadPool(4));
    ForwardContext.where(t, meta, batch)
        .run(
            () ->
                CompletableFuture.supplyAsync(ContextSnippets::loadWeights, io) // sees the context
                    .thenApplyAsync(ContextSnippets::quantize, io) // and so does this stage
                    .join());
    // @end
    io.shutdown();
  }

  static List<float[]> fanOut(int cores, int numHeads) throws Exception {
    // @start region="fan-out"
    FanOut heads = FanOut.named("attention-head").withMaxParallelism(cores);

    // inside a forward pass: every head sees ForwardContext.current()
    List<float[]> outputs = heads.invokeAll(numHeads, head -> attention(head));
    // @end
    return outputs;
  }

  static float[] attention(int head) {
    return new float[] {head, ForwardContext.current().currentTimestep()};
  }
}
