package io.github.forwardcontext;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.SequencedMap;

/**
 * The per-layer metadata of {@link AttentionMetadata#perLayer(Map)}: an insertion-ordered copy of
 * the caller's map and the batch size all its layers agree on.
 */
final class PerLayerAttentionMetadata implements AttentionMetadata.PerLayer {

  // How many known layer names an unknown-layer message lists.
  private static final int NAMES_SHOWN = 5;

  // The LinkedHashMap keeps the caller's order for layers() and the messages. Lookups go through
  // an open-addressing table of its own instead: names and metadata side by side in one array,
  // probed linearly at a load factor of at most 1/4, so a read is the name's cached hash, one
  // array slot (usually the first) and an identity or equals check: no HashMap node to follow.
  private final LinkedHashMap<String, AttentionMetadata> layers;
  private final SequencedMap<String, AttentionMetadata> view;
  private final Object[] table; // [2i] a layer name or null, [2i + 1] its metadata
  private final int mask; // slots - 1
  private final int batchSize;

  private PerLayerAttentionMetadata(
      LinkedHashMap<String, AttentionMetadata> layers, int batchSize) {
    this.layers = layers;
    this.view = Collections.unmodifiableSequencedMap(layers);
    this.batchSize = batchSize;
    int slots = Integer.highestOneBit(Math.max(1, layers.size()) * 4 - 1) << 1;
    this.mask = slots - 1;
    this.table = new Object[slots * 2];
    for (Map.Entry<String, AttentionMetadata> entry : layers.entrySet()) {
      int i = slot(entry.getKey().hashCode());
      while (table[2 * i] != null) {
        i = (i + 1) & mask;
      }
      table[2 * i] = entry.getKey();
      table[2 * i + 1] = entry.getValue();
    }
  }

  private int slot(int hash) {
    return (hash ^ (hash >>> 16)) & mask;
  }

  static PerLayerAttentionMetadata copyOf(Map<String, ? extends AttentionMetadata> layers) {
    Objects.requireNonNull(layers, "layers");
    LinkedHashMap<String, AttentionMetadata> copy = LinkedHashMap.newLinkedHashMap(layers.size());
    String firstName = null;
    int firstSize = 0;
    int position = 0;
    // Iterate once: a concurrent map may change between size() and the copy.
    for (Map.Entry<String, ? extends AttentionMetadata> entry : layers.entrySet()) {
      String name = entry.getKey();
      AttentionMetadata metadata = entry.getValue();
      if (name == null) {
        throw new NullPointerException(
            "layers must not hold a null layer name, but the layer at position "
                + position
                + " has none");
      }
      if (metadata == null) {
        throw new NullPointerException(
            "layers must not hold null metadata, but layer '" + name + "' has null");
      }
      if (metadata instanceof AttentionMetadata.PerLayer) {
        throw new IllegalArgumentException(
            "layer '"
                + name
                + "' holds per-layer metadata itself; per-layer metadata does not nest, give"
                + " each layer its own backend's metadata");
      }
      int size = metadata.batchSize();
      if (firstName == null) {
        firstName = name;
        firstSize = size;
      } else if (size != firstSize) {
        throw new IllegalArgumentException(
            "every layer must report the same batch size, since a pass is timed once, but layer '"
                + firstName
                + "' reports "
                + firstSize
                + " and layer '"
                + name
                + "' reports "
                + size);
      }
      copy.put(name, metadata);
      position++;
    }
    if (firstName == null) {
      throw new IllegalArgumentException("layers must hold at least one layer but was empty");
    }
    return new PerLayerAttentionMetadata(copy, firstSize);
  }

  @Override
  public int batchSize() {
    return batchSize;
  }

  @Override
  public SequencedMap<String, AttentionMetadata> layers() {
    return view;
  }

  /** The layer's metadata; never null. */
  AttentionMetadata layer(String layerName) {
    Object[] slots = table;
    for (int i = slot(layerName.hashCode()); ; i = (i + 1) & mask) {
      Object name = slots[2 * i];
      if (name == layerName || layerName.equals(name)) {
        return (AttentionMetadata) slots[2 * i + 1];
      }
      if (name == null) {
        throw unknownLayer(layerName);
      }
    }
  }

  private IllegalStateException unknownLayer(String layerName) {
    StringBuilder message =
        new StringBuilder("The forward context's per-layer attention metadata has no layer '")
            .append(layerName)
            .append("'; ");
    return new IllegalStateException(appendLayers(message).toString());
  }

  /** The failure of a read as one metadata of {@code type}, which this per-layer one is not. */
  ClassCastException notOne(Class<?> type) {
    StringBuilder message =
        new StringBuilder("The forward context's attention metadata is per-layer, not a ")
            .append(type.getName())
            .append(": read one layer's with attnMetadata(layerName, ")
            .append(type.getSimpleName())
            .append(".class); ");
    return new ClassCastException(appendLayers(message).toString());
  }

  // "its N layers are 'a', 'b', ..." with at most NAMES_SHOWN names.
  private StringBuilder appendLayers(StringBuilder message) {
    message
        .append("its ")
        .append(layers.size())
        .append(layers.size() == 1 ? " layer is " : " layers are ");
    int shown = 0;
    for (String name : layers.keySet()) {
      if (shown == NAMES_SHOWN) {
        message.append(", ...");
        break;
      }
      message.append(shown == 0 ? "'" : ", '").append(name).append('\'');
      shown++;
    }
    return message;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof PerLayerAttentionMetadata other && layers.equals(other.layers);
  }

  @Override
  public int hashCode() {
    return layers.hashCode();
  }

  @Override
  public String toString() {
    return "PerLayer[batchSize=" + batchSize + ", layers=" + layers + "]";
  }
}
