package io.github.forwardcontext.snippets;

import io.github.forwardcontext.AttentionMetadata;
import io.github.forwardcontext.BatchSizeTracker;
import io.github.forwardcontext.ForwardBatch;
import io.github.forwardcontext.ForwardContext;
import io.github.forwardcontext.Microbatches;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The code shown by the javadoc and the README on per-layer attention metadata and microbatches. It
 * compiles with the tests; {@code PerLayerSnippetsTest} runs it.
 */
final class PerLayerSnippets {
  private PerLayerSnippets() {}

  /** One attention backend's metadata. */
  record FlashAttentionMetadata(int batchSize, int maxSeqLen) implements AttentionMetadata {}

  /** Another backend's metadata, for the linear-attention layers of a hybrid model. */
  record LinearAttentionMetadata(int batchSize, int chunkSize) implements AttentionMetadata {}

  /** A request, the pipeline's forward batch. */
  record Request(String id) implements ForwardBatch {}

  /** A model whose layers read their metadata from the forward context. */
  interface HybridModel {
    float[] forward(float[] x);
  }

  /** A hybrid model's step: every fourth layer runs flash attention, the others linear. */
  static float[] perLayerMetadata(
      BatchSizeTracker tracker,
      HybridModel model,
      int t,
      Request request,
      float[] x,
      int numLayers) {
    int batchSize = 8;
    FlashAttentionMetadata flash = new FlashAttentionMetadata(batchSize, 1024);
    LinearAttentionMetadata linear = new LinearAttentionMetadata(batchSize, 64);
    // @start region="perLayerMetadata"
    Map<String, AttentionMetadata> layers = new LinkedHashMap<>();
    for (int i = 0; i < numLayers; i++) {
      layers.put("layer." + i, i % 4 == 3 ? flash : linear);
    }
    AttentionMetadata step = AttentionMetadata.perLayer(layers);
    return tracker.where(t, step, request).call(() -> model.forward(x));
    // @end
  }

  /** What layer 3 reads; it must be called inside the pass above. */
  static int layerRead() {
    // @start region="layerRead"
    // in layer 3's attention, at any depth below model.forward:
    FlashAttentionMetadata meta =
        ForwardContext.current().attnMetadata("layer.3", FlashAttentionMetadata.class);
    // @end
    return meta.maxSeqLen();
  }

  /** A step split into two microbatches that overlap, each under its own metadata. */
  static List<float[]> microbatches(
      BatchSizeTracker tracker,
      HybridModel model,
      int t,
      Request request,
      AttentionMetadata whole,
      AttentionMetadata firstHalf,
      AttentionMetadata secondHalf,
      float[][] halves)
      throws InterruptedException {
    // @start region="microbatches"
    // one tracked pass for the whole step ...
    return tracker
        .where(t, whole, request)
        .call(
            () ->
                // ... run as two overlapped microbatches: each thread sees its own metadata
                Microbatches.of(firstHalf, secondHalf).call(i -> model.forward(halves[i])));
    // @end
  }

  /** The ForwardContext class javadoc's example: per-layer metadata, read by layer name. */
  static float[] forwardContext(
      BatchSizeTracker tracker,
      HybridModel model,
      int t,
      Request request,
      FlashAttentionMetadata flash,
      LinearAttentionMetadata linear,
      float[] x) {
    // @start region="forwardContext"
    AttentionMetadata step = AttentionMetadata.perLayer(Map.of("attn.0", flash, "attn.1", linear));
    return tracker.where(t, step, request).call(() -> model.forward(x));
    // @end
  }

  /** The README's section: a hybrid model's step as two overlapped microbatches. */
  static List<float[]> readme(
      BatchSizeTracker tracker,
      HybridModel model,
      int t,
      Request request,
      Map<String, AttentionMetadata> layers,
      AttentionMetadata firstHalf,
      AttentionMetadata secondHalf,
      float[][] inputs)
      throws InterruptedException {
    // @start region="readme"
    // A hybrid model: one metadata per layer name, for the whole step.
    AttentionMetadata step = AttentionMetadata.perLayer(layers);

    // One tracked pass, run as two overlapped microbatches: each on its own virtual thread,
    // under its own (per-layer) metadata, with the step's timestep and request.
    List<float[]> outputs =
        tracker
            .where(t, step, request)
            .call(() -> Microbatches.of(firstHalf, secondHalf).call(i -> model.forward(inputs[i])));
    // @end
    return outputs;
  }
}
