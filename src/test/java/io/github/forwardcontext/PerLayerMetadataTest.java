package io.github.forwardcontext;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class PerLayerMetadataTest implements NoContextLeftBound {

  /** The other backend of the hybrid model: every fourth layer. */
  record OtherBackendMetadata(int batchSize, int chunkSize) implements AttentionMetadata {}

  private static final int LAYERS = 48;
  private static final int BATCH = 8;

  /** A 48-layer hybrid model: layers 3, 7, 11, ... use the other backend. */
  private static LinkedHashMap<String, AttentionMetadata> model() {
    LinkedHashMap<String, AttentionMetadata> layers = new LinkedHashMap<>();
    for (int i = 0; i < LAYERS; i++) {
      layers.put(
          "layer." + i,
          i % 4 == 3 ? new OtherBackendMetadata(BATCH, i) : new TestMetadata(BATCH, "layer-" + i));
    }
    return layers;
  }

  @Test
  void eachOf48LayersReadsItsOwnMetadataAsItsBackendsType() {
    LinkedHashMap<String, AttentionMetadata> layers = model();
    ForwardContext context = ForwardContext.where(500, AttentionMetadata.perLayer(layers));

    context.run(
        () -> {
          for (int i = 0; i < LAYERS; i++) {
            String name = "layer." + i;
            // a name built at run time, not the map's own key instance: a real hash lookup
            ForwardContext current = ForwardContext.current();
            if (i % 4 == 3) {
              OtherBackendMetadata meta = current.attnMetadata(name, OtherBackendMetadata.class);
              assertThat(meta).isSameAs(layers.get(name));
              assertThat(meta.chunkSize()).isEqualTo(i);
            } else {
              TestMetadata meta = current.attnMetadata(name, TestMetadata.class);
              assertThat(meta).isSameAs(layers.get(name));
              assertThat(meta.label()).isEqualTo("layer-" + i);
            }
          }
        });
  }

  @Test
  void everyLayerIsReadableAsTheCommonInterface() {
    ForwardContext context = ForwardContext.where(1, AttentionMetadata.perLayer(model()));

    for (int i = 0; i < LAYERS; i++) {
      assertThat(context.attnMetadata("layer." + i, AttentionMetadata.class).batchSize())
          .isEqualTo(BATCH);
    }
  }

  @Test
  void theLayersKeepTheMapsIterationOrder() {
    LinkedHashMap<String, AttentionMetadata> layers = new LinkedHashMap<>();
    for (String name : List.of("z.out", "a.in", "m.mid", "b.head")) {
      layers.put(name, new TestMetadata(2, name));
    }

    AttentionMetadata.PerLayer perLayer =
        (AttentionMetadata.PerLayer) AttentionMetadata.perLayer(layers);

    assertThat(perLayer.layers().keySet()).containsExactly("z.out", "a.in", "m.mid", "b.head");
    assertThat(new ArrayList<>(perLayer.layers().values()))
        .containsExactlyElementsOf(layers.values());
    assertThat(perLayer.layers().firstEntry().getKey()).isEqualTo("z.out");
  }

  @Test
  void theCopyIsDefensive() {
    LinkedHashMap<String, AttentionMetadata> layers = model();
    AttentionMetadata.PerLayer perLayer =
        (AttentionMetadata.PerLayer) AttentionMetadata.perLayer(layers);

    layers.put("layer.0", new TestMetadata(BATCH, "replaced"));
    layers.put("layer.48", new TestMetadata(BATCH));

    assertThat(perLayer.layers()).hasSize(LAYERS).doesNotContainKey("layer.48");
    assertThat(
            ForwardContext.where(1, perLayer).attnMetadata("layer.0", TestMetadata.class).label())
        .isEqualTo("layer-0");
  }

  @Test
  void theListedLayersCannotBeModified() {
    AttentionMetadata.PerLayer perLayer =
        (AttentionMetadata.PerLayer) AttentionMetadata.perLayer(model());

    assertThatThrownBy(() -> perLayer.layers().put("layer.48", new TestMetadata(BATCH)))
        .isInstanceOf(UnsupportedOperationException.class);
    assertThatThrownBy(() -> perLayer.layers().pollFirstEntry())
        .isInstanceOf(UnsupportedOperationException.class);
  }

  @Test
  void theBatchSizeIsTheOneEveryLayerReports() {
    assertThat(AttentionMetadata.perLayer(model()).batchSize()).isEqualTo(BATCH);
  }

  @Test
  void perLayerMetadataWithEqualLayersIsEqual() {
    AttentionMetadata a = AttentionMetadata.perLayer(model());
    AttentionMetadata b = AttentionMetadata.perLayer(model());
    AttentionMetadata c = AttentionMetadata.perLayer(Map.of("layer.0", new TestMetadata(BATCH)));

    assertThat(a).isEqualTo(b).hasSameHashCodeAs(b).isNotEqualTo(c);
    assertThat(ForwardContext.where(1, a)).isEqualTo(ForwardContext.where(1, b));
  }

  @Test
  void aTrackedPassWithPerLayerMetadataIsTimedOnceUnderTheCommonBatchSize() {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    BatchSizeTracker tracker = BatchSizeTracker.builder(registry).build();

    tracker.where(1, AttentionMetadata.perLayer(model())).run(() -> {});

    assertThat(registry.get("forward.pass").timers()).hasSize(1);
    assertThat(registry.get("forward.pass").tag("batch.size", "8").timer().count()).isEqualTo(1);
  }

  // --- the single-metadata fallback ---

  @Test
  void singleMetadataIsReturnedForEveryLayer() {
    TestMetadata single = new TestMetadata(4);
    ForwardContext context = ForwardContext.where(1, single);

    for (int i = 0; i < LAYERS; i++) {
      assertThat(context.attnMetadata("layer." + i, TestMetadata.class)).isSameAs(single);
    }
    assertThat(context.attnMetadata("any name at all", AttentionMetadata.class)).isSameAs(single);
  }

  @Test
  void readingPerLayerMetadataAsOneSaysItIsPerLayerAndPointsToTheLayerRead() {
    ForwardContext context = ForwardContext.where(1, AttentionMetadata.perLayer(model()));

    assertThatThrownBy(() -> context.attnMetadata(TestMetadata.class))
        .isInstanceOf(ClassCastException.class)
        .hasMessage(
            "The forward context's attention metadata is per-layer, not a "
                + TestMetadata.class.getName()
                + ": read one layer's with attnMetadata(layerName, TestMetadata.class); its 48"
                + " layers are 'layer.0', 'layer.1', 'layer.2', 'layer.3', 'layer.4', ...");
  }

  @Test
  void perLayerMetadataIsStillReadableAsThePerLayerType() {
    AttentionMetadata perLayer = AttentionMetadata.perLayer(model());
    ForwardContext context = ForwardContext.where(1, perLayer);

    assertThat(context.attnMetadata(AttentionMetadata.PerLayer.class)).isSameAs(perLayer);
  }

  @Test
  void singleMetadataOfTheWrongTypeIsAClassCastExceptionNamingBothTypes() {
    ForwardContext context = ForwardContext.where(1, new TestMetadata(4));

    assertThatThrownBy(() -> context.attnMetadata("layer.0", OtherBackendMetadata.class))
        .isInstanceOf(ClassCastException.class)
        .hasMessage(
            "The forward context's attention metadata is a "
                + TestMetadata.class.getName()
                + ", not a "
                + OtherBackendMetadata.class.getName());
  }

  @Test
  void noMetadataIsAnIllegalStateExceptionAsForTheUnnamedRead() {
    ForwardContext context = ForwardContext.where(7, null);

    assertThatThrownBy(() -> context.attnMetadata("layer.0", TestMetadata.class))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage(
            "The forward context (timestep 7) has no attention metadata; expected a "
                + TestMetadata.class.getName());
  }

  // --- error paths ---

  @Test
  void anUnknownLayerNamesTheLayerAndFiveKnownOnes() {
    ForwardContext context = ForwardContext.where(1, AttentionMetadata.perLayer(model()));

    assertThatThrownBy(() -> context.attnMetadata("layer.48", TestMetadata.class))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage(
            "The forward context's per-layer attention metadata has no layer 'layer.48'; its 48"
                + " layers are 'layer.0', 'layer.1', 'layer.2', 'layer.3', 'layer.4', ...");
  }

  @Test
  void anUnknownLayerOfASmallModelNamesAllKnownOnes() {
    Map<String, AttentionMetadata> layers = new LinkedHashMap<>();
    layers.put("attn", new TestMetadata(2));
    layers.put("cross", new TestMetadata(2));
    ForwardContext context = ForwardContext.where(1, AttentionMetadata.perLayer(layers));

    assertThatThrownBy(() -> context.attnMetadata("mlp", TestMetadata.class))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage(
            "The forward context's per-layer attention metadata has no layer 'mlp'; its 2 layers"
                + " are 'attn', 'cross'");
  }

  @Test
  void aLayerOfTheWrongTypeIsAClassCastExceptionNamingTheLayerAndBothTypes() {
    ForwardContext context = ForwardContext.where(1, AttentionMetadata.perLayer(model()));

    assertThatThrownBy(() -> context.attnMetadata("layer.3", TestMetadata.class))
        .isInstanceOf(ClassCastException.class)
        .hasMessage(
            "The forward context's attention metadata of layer 'layer.3' is a "
                + OtherBackendMetadata.class.getName()
                + ", not a "
                + TestMetadata.class.getName());
  }

  @Test
  void aNullLayerNameIsANullPointerException() {
    ForwardContext perLayer = ForwardContext.where(1, AttentionMetadata.perLayer(model()));
    ForwardContext single = ForwardContext.where(1, new TestMetadata(1));

    assertThatThrownBy(() -> perLayer.attnMetadata(null, TestMetadata.class))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("layerName");
    assertThatThrownBy(() -> single.attnMetadata(null, TestMetadata.class))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("layerName");
  }

  @Test
  void anEmptyMapIsAnIllegalArgumentException() {
    assertThatThrownBy(() -> AttentionMetadata.perLayer(Map.of()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("layers must hold at least one layer but was empty");
  }

  @Test
  void layersThatDisagreeOnTheBatchSizeAreAnIllegalArgumentExceptionNamingBoth() {
    LinkedHashMap<String, AttentionMetadata> layers = model();
    layers.put("layer.30", new TestMetadata(4));

    assertThatThrownBy(() -> AttentionMetadata.perLayer(layers))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "every layer must report the same batch size, since a pass is timed once, but layer"
                + " 'layer.0' reports 8 and layer 'layer.30' reports 4");
  }

  @Test
  void aNullLayerNameInTheMapIsANullPointerExceptionGivingItsPosition() {
    Map<String, AttentionMetadata> layers = new LinkedHashMap<>();
    layers.put("layer.0", new TestMetadata(1));
    layers.put("layer.1", new TestMetadata(1));
    layers.put(null, new TestMetadata(1));

    assertThatThrownBy(() -> AttentionMetadata.perLayer(layers))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("layers must not hold a null layer name, but the layer at position 2 has none");
  }

  @Test
  void nullMetadataInTheMapIsANullPointerExceptionNamingTheLayer() {
    Map<String, AttentionMetadata> layers = new HashMap<>();
    layers.put("layer.5", null);

    assertThatThrownBy(() -> AttentionMetadata.perLayer(layers))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("layers must not hold null metadata, but layer 'layer.5' has null");
  }

  @Test
  void aNullMapIsANullPointerException() {
    assertThatThrownBy(() -> AttentionMetadata.perLayer(null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("layers");
  }

  @Test
  void perLayerMetadataInsidePerLayerMetadataIsRejected() {
    AttentionMetadata inner = AttentionMetadata.perLayer(Map.of("q", new TestMetadata(2)));
    Map<String, AttentionMetadata> layers = new LinkedHashMap<>();
    layers.put("layer.0", new TestMetadata(2));
    layers.put("block.1", inner);

    assertThatThrownBy(() -> AttentionMetadata.perLayer(layers))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "layer 'block.1' holds per-layer metadata itself; per-layer metadata does not nest,"
                + " give each layer its own backend's metadata");
  }
}
