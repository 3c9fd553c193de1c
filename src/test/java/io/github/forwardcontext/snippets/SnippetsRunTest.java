package io.github.forwardcontext.snippets;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.forwardcontext.BatchSizeTracker;
import io.github.forwardcontext.ForwardContext;
import io.github.forwardcontext.snippets.Model.FlashMetadata;
import io.github.forwardcontext.snippets.Model.Request;
import io.github.forwardcontext.snippets.Model.Transformer;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The documented code does what its text says when it runs. */
class SnippetsRunTest {

  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  private final FlashMetadata meta = new FlashMetadata(8, new int[] {3, 5});
  private final Request request = new Request("r1", 7.5f);

  @AfterEach
  void nothingLeftBound() {
    assertThat(ForwardContext.isBound()).isFalse();
  }

  private long passes() {
    Timer timer =
        registry
            .find(BatchSizeTracker.METER_NAME)
            .tag(BatchSizeTracker.BATCH_SIZE_TAG, "8")
            .timer();
    return timer == null ? 0 : timer.count();
  }

  @Test
  void theQuickStartPipelineTimesOnePassPerTimestep() {
    float[] out =
        ReadmeSnippets.pipeline(
            registry, new int[] {999, 500, 1}, meta, request, new Transformer(), new float[] {1f});

    assertThat(passes()).isEqualTo(3);
    assertThat(out[0]).isLessThan(1f);
  }

  @Test
  void theTrackerTimingSnippetTimesOnePassPerTimestep() {
    TrackerSnippets.timing(
        registry, new int[] {2, 1}, meta, request, new Transformer(), new float[] {1f});

    assertThat(passes()).isEqualTo(2);
  }

  @Test
  void theQuickStartLayerSeesThePassInEveryHead() throws Exception {
    ExecutorService pool = Executors.newSingleThreadExecutor();

    List<float[]> heads = ForwardContext.where(42, meta).call(() -> ReadmeSnippets.layer(4, pool));

    assertThat(heads).hasSize(4);
    for (int h = 0; h < 4; h++) {
      assertThat(heads.get(h)).containsExactly(8f, 42f, h);
    }
    pool.close();
  }
}
