package io.github.forwardcontext.snippets;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.forwardcontext.AttentionMetadata;
import io.github.forwardcontext.BatchSizeTracker;
import io.github.forwardcontext.ForwardContext;
import io.github.forwardcontext.NoContextLeftBound;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class PerLayerSnippetsTest implements NoContextLeftBound {
  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  private final BatchSizeTracker tracker = BatchSizeTracker.builder(registry).build();
  private final PerLayerSnippets.Request request = new PerLayerSnippets.Request("r1");

  @Test
  void theLayerReadShownFindsTheFlashLayerOfThePerLayerStepShown() {
    float[] y =
        PerLayerSnippets.perLayerMetadata(
            tracker,
            x -> new float[] {PerLayerSnippets.layerRead()},
            500,
            request,
            new float[0],
            8);

    assertThat(y).containsExactly(1024f);
    assertThat(registry.get("forward.pass").tag("batch.size", "8").timer().count()).isEqualTo(1);
  }

  @Test
  void theMicrobatchesShownEachSeeTheirOwnMetadataInOneTimedPass() throws Exception {
    List<float[]> out =
        PerLayerSnippets.microbatches(
            tracker,
            x -> new float[] {x[0], ForwardContext.current().attnMetadata().batchSize()},
            500,
            request,
            () -> 8,
            () -> 3,
            () -> 5,
            new float[][] {{10f}, {20f}});

    assertThat(out.get(0)).containsExactly(10f, 3f);
    assertThat(out.get(1)).containsExactly(20f, 5f);
    assertThat(registry.get("forward.pass").timers()).hasSize(1);
  }

  @Test
  void theForwardContextExampleBindsOneMetadataPerLayer() {
    float[] y =
        PerLayerSnippets.forwardContext(
            tracker,
            x ->
                new float[] {
                  ForwardContext.current()
                      .attnMetadata("attn.1", PerLayerSnippets.LinearAttentionMetadata.class)
                      .chunkSize()
                },
            500,
            request,
            new PerLayerSnippets.FlashAttentionMetadata(2, 128),
            new PerLayerSnippets.LinearAttentionMetadata(2, 64),
            new float[0]);

    assertThat(y).containsExactly(64f);
  }

  @Test
  void theReadmeStepRunsItsMicrobatchesUnderTheirOwnPerLayerMetadata() throws Exception {
    AttentionMetadata firstHalf =
        AttentionMetadata.perLayer(
            Map.of("layer.3", new PerLayerSnippets.FlashAttentionMetadata(3, 10)));
    AttentionMetadata secondHalf =
        AttentionMetadata.perLayer(
            Map.of("layer.3", new PerLayerSnippets.FlashAttentionMetadata(5, 20)));

    List<float[]> out =
        PerLayerSnippets.readme(
            tracker,
            x -> new float[] {x[0], PerLayerSnippets.layerRead()},
            500,
            request,
            Map.of("layer.3", new PerLayerSnippets.FlashAttentionMetadata(8, 30)),
            firstHalf,
            secondHalf,
            new float[][] {{1f}, {2f}});

    assertThat(out.get(0)).containsExactly(1f, 10f);
    assertThat(out.get(1)).containsExactly(2f, 20f);
    assertThat(registry.get("forward.pass").tag("batch.size", "8").timer().count()).isEqualTo(1);
  }
}
