package io.github.forwardcontext.example;

import io.github.forwardcontext.AttentionMetadata;
import io.github.forwardcontext.ForwardContext;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The hybrid layout of the example's transformer, as in vLLM's hybrid models: even layers run full
 * attention ({@link DenoiseMetadata}), odd layers local attention over neighbouring frames ({@link
 * WindowedMetadata}). A step binds one {@linkplain AttentionMetadata#perLayer(Map) per-layer}
 * metadata, and each layer reads its own backend's type by its name.
 */
final class HybridAttention {
  /** Frames before and after its own that a token of a local-attention layer sees. */
  static final int WINDOW_FRAMES = 1;

  private final String[] names;

  HybridAttention(int layers) {
    this.names = new String[layers];
    for (int layer = 0; layer < layers; layer++) {
      names[layer] = "layer." + layer;
    }
  }

  static boolean isLocal(int layer) {
    return layer % 2 == 1;
  }

  /** {@return the name a layer's metadata is bound under} */
  String name(int layer) {
    return names[layer];
  }

  /** {@return the per-layer metadata of one pass: one entry per layer, of that layer's backend} */
  AttentionMetadata metadata(DenoiseMetadata shape) {
    WindowedMetadata local = new WindowedMetadata(shape, WINDOW_FRAMES);
    Map<String, AttentionMetadata> layers = new LinkedHashMap<>();
    for (int layer = 0; layer < names.length; layer++) {
      layers.put(names[layer], isLocal(layer) ? local : shape);
    }
    return AttentionMetadata.perLayer(layers);
  }

  /**
   * What one layer's attention needs, read from the bound context as that layer's backend's type.
   *
   * @param shape the input shape and request of the pass
   * @param windowFrames frames before and after its own that a token sees, or {@link
   *     Integer#MAX_VALUE} for full attention
   */
  record Layer(DenoiseMetadata shape, int windowFrames) {
    /** {@return whether the query token sees the key token} */
    boolean sees(int query, int key) {
      return Math.abs(query / Request.TOKENS_PER_FRAME - key / Request.TOKENS_PER_FRAME)
          <= windowFrames;
    }
  }

  /** {@return the layer's view of the pass's metadata} */
  Layer read(ForwardContext context, int layer) {
    if (isLocal(layer)) {
      WindowedMetadata local = context.attnMetadata(names[layer], WindowedMetadata.class);
      return new Layer(local.shape(), local.windowFrames());
    }
    return new Layer(context.attnMetadata(names[layer], DenoiseMetadata.class), Integer.MAX_VALUE);
  }
}
