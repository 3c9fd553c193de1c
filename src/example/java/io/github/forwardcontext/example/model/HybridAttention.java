package io.github.forwardcontext.example.model;

import io.github.forwardcontext.AttentionMetadata;
import io.github.forwardcontext.ForwardContext;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The hybrid layout of the example's transformer, as in vLLM's hybrid models: even layers run full
 * attention ({@link DenoiseMetadata}), odd layers local attention over neighbouring frames ({@link
 * WindowedMetadata}). A pass binds one {@linkplain AttentionMetadata#perLayer(Map) per-layer}
 * metadata, and each layer reads its own backend's type by its name, then turns it into the mask
 * its session takes.
 */
public final class HybridAttention {
  /** Frames before and after its own that a token of a local-attention layer sees. */
  public static final int WINDOW_FRAMES = 1;

  /** Latent tokens per frame: each frame is a 2 x 2 grid of patches. */
  public static final int TOKENS_PER_FRAME = 4;

  /** The additive mask value of a token another token does not see. */
  static final float MASKED = -1e9f;

  private final String[] names;

  /** The layout of a model of {@code layers} layers. */
  public HybridAttention(int layers) {
    this.names = new String[layers];
    for (int layer = 0; layer < layers; layer++) {
      names[layer] = "layer." + layer;
    }
  }

  /** {@return whether the layer attends locally} */
  public static boolean isLocal(int layer) {
    return layer % 2 == 1;
  }

  /** {@return the per-layer metadata of one pass: one entry per layer, of that layer's backend} */
  public AttentionMetadata metadata(DenoiseMetadata shape) {
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
   * @param shape the input shape of the pass
   * @param windowFrames frames before and after its own that a token sees, or {@link
   *     Integer#MAX_VALUE} for full attention
   */
  public record Layer(DenoiseMetadata shape, int windowFrames) {
    /** {@return whether the query token sees the key token} */
    public boolean sees(int query, int key) {
      return Math.abs(query / TOKENS_PER_FRAME - key / TOKENS_PER_FRAME) <= windowFrames;
    }

    /** {@return the additive mask {@code [query][key]} of this layer, flat} */
    float[] mask() {
      int tokens = shape.sequenceLength();
      float[] mask = new float[tokens * tokens];
      for (int q = 0; q < tokens; q++) {
        for (int k = 0; k < tokens; k++) {
          mask[q * tokens + k] = sees(q, k) ? 0f : MASKED;
        }
      }
      return mask;
    }
  }

  /** {@return the layer's view of the pass's metadata} */
  public Layer read(ForwardContext context, int layer) {
    if (isLocal(layer)) {
      WindowedMetadata local = context.attnMetadata(names[layer], WindowedMetadata.class);
      return new Layer(local.shape(), local.windowFrames());
    }
    return new Layer(context.attnMetadata(names[layer], DenoiseMetadata.class), Integer.MAX_VALUE);
  }
}
