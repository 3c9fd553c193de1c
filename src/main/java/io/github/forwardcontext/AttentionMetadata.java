package io.github.forwardcontext;

import java.util.Map;
import java.util.SequencedMap;

/**
 * The attention backend's per-pass metadata, as far as this library needs to know it: the batch
 * size that forward-pass timings are grouped by.
 *
 * <p>An attention backend implements this interface on its own metadata type and reads it back with
 * the typed accessor {@link ForwardContext#attnMetadata(Class)}:
 *
 * {@snippet class="io.github.forwardcontext.snippets.ContextSnippets" region="metadata"}
 *
 * {@snippet class="io.github.forwardcontext.snippets.ContextSnippets" region="metadata-read"}
 *
 * <p>The interface is functional, so a lambda serves where nothing but a batch size is needed:
 * {@code tracker.where(t, () -> 8)}.
 *
 * <h2>Per-layer metadata</h2>
 *
 * A hybrid model runs different attention backends (or KV-cache groups) in different layers. {@link
 * #perLayer(Map)} bundles one metadata per layer name into one metadata for the pass:
 *
 * {@snippet class="io.github.forwardcontext.snippets.PerLayerSnippets" region="perLayerMetadata"}
 *
 * and each layer reads its own with {@link ForwardContext#attnMetadata(String, Class)}:
 *
 * {@snippet class="io.github.forwardcontext.snippets.PerLayerSnippets" region="layerRead"}
 *
 * @see BatchSizeTracker
 */
@FunctionalInterface
public interface AttentionMetadata {

  /**
   * {@return the batch size of the forward pass this metadata belongs to} It is what {@link
   * BatchSizeTracker} groups timings by (FastVideo and vLLM report the number of input tokens
   * here). It is read once, when a tracked pass is bound, and must not be negative.
   */
  int batchSize();

  /**
   * Returns attention metadata that holds one metadata per layer, for a model whose layers use
   * different attention backends. It is an immutable copy of {@code layers}, in the map's iteration
   * order; later changes to the map do not show. Its {@linkplain #batchSize() batch size} is the
   * one every layer reports, read once here. Layers read their own with {@link
   * ForwardContext#attnMetadata(String, Class)}; {@link PerLayer#layers()} lists them.
   *
   * @param layers the metadata of each layer, by layer name
   * @return the per-layer metadata, an instance of {@link PerLayer}
   * @throws NullPointerException if {@code layers} is null, or holds a null layer name (the message
   *     gives its position) or null metadata (the message names the layer)
   * @throws IllegalArgumentException if {@code layers} is empty, if two layers report different
   *     batch sizes (the message names both layers and their sizes), or if a layer's metadata is
   *     itself per-layer: per-layer metadata does not nest
   */
  static AttentionMetadata perLayer(Map<String, ? extends AttentionMetadata> layers) {
    return PerLayerAttentionMetadata.copyOf(layers);
  }

  /**
   * Attention metadata that holds one metadata per layer, as {@link
   * AttentionMetadata#perLayer(Map)} returns it. Instances are immutable; two are equal when they
   * map the same layer names to equal metadata.
   */
  sealed interface PerLayer extends AttentionMetadata permits PerLayerAttentionMetadata {

    /**
     * {@return the metadata of every layer, by layer name, in the order they were given} The map
     * cannot be modified.
     */
    SequencedMap<String, AttentionMetadata> layers();
  }
}
