package io.github.forwardcontext.batching;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.forwardcontext.ForwardBatch;
import io.github.forwardcontext.ForwardContext;
import io.github.forwardcontext.LogCapture;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Level;
import org.junit.jupiter.api.Test;

/** What a batcher captures from each submitter, and {@link Batch#current()}. */
class SubmitterContextTest extends BatcherTestSupport {
  private static final ThreadLocal<String> REQUEST = new ThreadLocal<>();

  @Test
  void eachItemCarriesWhatWasCapturedOnItsSubmittersThreadInItemOrder() throws Exception {
    List<List<Object>> seen = new CopyOnWriteArrayList<>();
    try (DynamicBatcher<String, String> batcher =
        builder(
                items -> {
                  seen.add(Batch.current().orElseThrow().submitterContexts());
                  return items;
                })
            .maxBatchSize(3)
            .maxWait(HOUR)
            .submitterContext(REQUEST::get)
            .build()) {
      Call<String> a = submitQueued(batcher, "a", "req-a");
      Call<String> b = submitQueued(batcher, "b", null); // nothing current in this submitter
      Call<String> c = // fills the batch, which then runs
          onThread(
              () -> {
                REQUEST.set("req-c");
                return batcher.submit("c");
              });
      assertThat(List.of(a.result(), b.result(), c.result())).containsExactly("a", "b", "c");
    }
    assertThat(seen).singleElement().isEqualTo(java.util.Arrays.asList("req-a", null, "req-c"));
  }

  @Test
  void withoutTheSettingEveryElementIsNull() throws Exception {
    List<List<Object>> seen = new CopyOnWriteArrayList<>();
    try (DynamicBatcher<String, String> batcher =
        builder(
                items -> {
                  seen.add(Batch.current().orElseThrow().submitterContexts());
                  return items;
                })
            .build()) {
      assertThat(batcher.submit("a")).isEqualTo("a");
    }
    assertThat(seen).singleElement().isEqualTo(java.util.Collections.singletonList(null));
  }

  @Test
  void aCaptureThatThrowsFailsNothingAndIsLoggedOnceAtWarning() throws Exception {
    try (LogCapture log = new LogCapture(DynamicBatcher.class.getName());
        DynamicBatcher<String, String> batcher =
            builder(items -> items)
                .submitterContext(
                    () -> {
                      throw new IllegalStateException("tracer gone");
                    })
                .build()) {
      assertThat(batcher.submit("a")).isEqualTo("a");
      assertThat(batcher.submit("b")).isEqualTo("b");
      assertThat(log.at(Level.WARNING)).hasSize(1);
      assertThat(log.at(Level.WARNING).getFirst().getMessage()).contains("submitter context");
    }
  }

  @Test
  void theCurrentBatchIsThereInsideThePassAlsoUnderAForwardBatchOfThePipelinesOwn()
      throws Exception {
    ForwardBatch own = new ForwardBatch() {};
    List<Object> seen = new CopyOnWriteArrayList<>();
    try (DynamicBatcher<String, String> batcher =
        builder(
                items -> {
                  seen.add(ForwardContext.current().forwardBatch());
                  seen.add(Batch.current().orElseThrow().items());
                  return items;
                })
            .context(batch -> ForwardContext.where(0, batch::size, own))
            .build()) {
      batcher.submit("a");
    }
    assertThat(seen).containsExactly(own, List.of("a"));
    assertThat(Batch.current()).isEmpty();
  }

  private static Call<String> submitQueued(
      DynamicBatcher<String, String> batcher, String item, String request) {
    int before = batcher.queued();
    Call<String> call =
        onThread(
            () -> {
              REQUEST.set(request);
              return batcher.submit(item);
            });
    awaitQueued(batcher, before + 1);
    return call;
  }
}
