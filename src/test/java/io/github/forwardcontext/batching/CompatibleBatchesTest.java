package io.github.forwardcontext.batching;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.forwardcontext.ForwardContext;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.Tag;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * {@code compatibleBy}: items with unequal keys never share a batch, each key dispatches on its own
 * full batch or its own oldest item's wait, the ready key whose oldest item arrived first runs
 * first, and one dispatcher and one queue bound serve every key. The keys here are the items' first
 * letters.
 */
@SuppressWarnings("try") // resources held open only for their lifetime
class CompatibleBatchesTest extends BatcherTestSupport {

  private static final Function<String, Object> FIRST_LETTER = item -> item.substring(0, 1);

  /** A recorder that also records each batch's key and the thread it ran on. */
  private final Recorder forward = new Recorder(true);

  private final List<Thread> threads = new CopyOnWriteArrayList<>();

  private DynamicBatcher.Builder<String, String> keyed() {
    forward.inside =
        batch -> {
          forward.keys.add(
              String.valueOf(ForwardContext.current().forwardBatch(Batch.class).key()));
          threads.add(Thread.currentThread());
        };
    return builder(forward).compatibleBy(FIRST_LETTER);
  }

  /**
   * Starts a pass of "x0" and holds it: queued, then its wait made over. Items queued later arrive
   * an hour of the fake clock after it, so their own waits have not begun to run out.
   */
  private Call<String> startHeldPass(DynamicBatcher<String, String> batcher)
      throws InterruptedException {
    if (batcher.toString().contains("maxWait=PT0S")) { // runs at once: never seen queued
      Call<String> x = submitAsync(batcher, "x0");
      forward.awaitPass();
      return x;
    }
    Call<String> x = submitQueued(batcher, "x0");
    ticker.advance(HOUR);
    forward.awaitPass();
    return x;
  }

  @Test
  void itemsWithUnequalKeysNeverShareABatchAndEachBatchCarriesItsKey() throws Exception {
    try (DynamicBatcher<String, String> batcher = keyed().maxBatchSize(8).build()) {
      Call<String> x = startHeldPass(batcher);
      List<Call<String>> calls =
          List.of(
              submitQueued(batcher, "a1"),
              submitQueued(batcher, "b1"),
              submitQueued(batcher, "a2"),
              submitQueued(batcher, "b2"));
      forward.open();

      assertThat(x.result()).isEqualTo("x0!");
      for (Call<String> call : calls) {
        call.result();
      }
    }

    assertThat(forward.batches)
        .containsExactly(List.of("x0"), List.of("a1", "a2"), List.of("b1", "b2"));
    assertThat(forward.keys).containsExactly("x", "a", "b");
    assertThat(Set.copyOf(threads)).as("one dispatcher for every key").hasSize(1);
  }

  @Test
  void withoutCompatibleByTheBatchHasNoKey() throws Exception {
    List<Object> keys = new CopyOnWriteArrayList<>();
    try (DynamicBatcher<String, String> batcher =
        builder(
                batch -> {
                  keys.add(ForwardContext.current().forwardBatch(Batch.class).key());
                  return batch;
                })
            .build()) {
      batcher.submit("a");
    }

    assertThat(keys).containsExactly((Object) null);
  }

  @Test
  void aKeyDispatchesAsSoonAsItHasMaxBatchSizeItemsWhileAnotherKeyWaits() throws Exception {
    forward.open();
    try (DynamicBatcher<String, String> batcher = keyed().maxBatchSize(2).maxWait(HOUR).build()) {
      Call<String> a1 = submitQueued(batcher, "a1");
      Call<String> b1 = submitQueued(batcher, "b1");
      Call<String> a2 = submitAsync(batcher, "a2");

      // The fake clock never moves: only a's full batch can have triggered the pass.
      assertThat(List.of(a1.result(), a2.result())).containsExactly("a1!", "a2!");
      assertThat(batcher.queued()).isEqualTo(1);
      assertThat(b1.outcome()).isNotDone();
    }

    assertThat(forward.batches).containsExactly(List.of("a1", "a2"), List.of("b1"));
  }

  @Test
  void aKeyDispatchesWhenItsOwnOldestItemHasWaitedMaxWait() throws Exception {
    forward.open();
    Duration maxWait = Duration.ofMillis(10);
    try (DynamicBatcher<String, String> batcher =
        keyed().maxBatchSize(8).maxWait(maxWait).build()) {
      Call<String> a1 = submitAsync(batcher, "a1");
      ticker.awaitParkAt(FakeTicker.START);
      ticker.advance(Duration.ofMillis(6));
      ticker.awaitParkAt(FakeTicker.START + Duration.ofMillis(6).toNanos());
      Call<String> b1 = submitQueued(batcher, "b1");
      Call<String> a2 = submitQueued(batcher, "a2");

      ticker.advance(Duration.ofMillis(4)); // a1 has waited 10 ms, b1 only 4
      assertThat(List.of(a1.result(), a2.result())).containsExactly("a1!", "a2!");
      FakeTicker.Park park = ticker.awaitParkAt(FakeTicker.START + maxWait.toNanos());
      assertThat(park.deadline())
          .as("b1's own deadline")
          .isEqualTo(FakeTicker.START + Duration.ofMillis(16).toNanos());
      assertThat(b1.outcome()).isNotDone();

      ticker.advance(Duration.ofMillis(6));
      assertThat(b1.result()).isEqualTo("b1!");
    }

    assertThat(forward.batches).containsExactly(List.of("a1", "a2"), List.of("b1"));
    assertThat(forward.startedAt)
        .containsExactly(Duration.ofMillis(10).toNanos(), Duration.ofMillis(16).toNanos());
  }

  @Test
  void amongReadyKeysTheOneWhoseOldestItemArrivedFirstRunsFirst() throws Exception {
    try (DynamicBatcher<String, String> batcher = keyed().maxBatchSize(2).maxWait(HOUR).build()) {
      Call<String> x = startHeldPass(batcher);
      List<Call<String>> calls =
          List.of(
              submitQueued(batcher, "b1"),
              submitQueued(batcher, "a1"),
              submitQueued(batcher, "a2"), // a is full first ...
              submitQueued(batcher, "b2")); // ... but b's oldest item arrived first
      forward.open();

      x.result();
      for (Call<String> call : calls) {
        call.result();
      }
    }

    assertThat(forward.batches)
        .containsExactly(List.of("x0"), List.of("b1", "b2"), List.of("a1", "a2"));
  }

  @Test
  void aReadyKeyRunsBeforeAnOlderKeyThatIsNotReady() throws Exception {
    try (DynamicBatcher<String, String> batcher = keyed().maxBatchSize(2).maxWait(HOUR).build()) {
      Call<String> x = startHeldPass(batcher);
      Call<String> a1 = submitQueued(batcher, "a1"); // oldest, but its key waits an hour
      Call<String> b1 = submitQueued(batcher, "b1");
      Call<String> b2 = submitQueued(batcher, "b2");
      forward.open();

      assertThat(List.of(x.result(), b1.result(), b2.result()))
          .containsExactly("x0!", "b1!", "b2!");
      assertThat(a1.outcome()).isNotDone();
    }

    assertThat(forward.batches).containsExactly(List.of("x0"), List.of("b1", "b2"), List.of("a1"));
  }

  @Test
  void withZeroMaxWaitEveryKeyWithAQueuedItemIsReady() throws Exception {
    try (DynamicBatcher<String, String> batcher = keyed().maxBatchSize(8).build()) {
      Call<String> x = startHeldPass(batcher);
      Call<String> a1 = submitQueued(batcher, "a1");
      Call<String> b1 = submitQueued(batcher, "b1");
      forward.open();

      assertThat(List.of(x.result(), a1.result(), b1.result()))
          .containsExactly("x0!", "a1!", "b1!");
    }

    assertThat(forward.batches).containsExactly(List.of("x0"), List.of("a1"), List.of("b1"));
    assertThat(ticker.parks()).as("timed waits of the dispatcher").isEmpty();
  }

  @Test
  void maxQueuedBoundsTheItemsOfAllKeysTogetherAndQueuedCountsThemAll() throws Exception {
    try (DynamicBatcher<String, String> batcher =
        keyed().maxBatchSize(8).maxQueued(2).maxWait(HOUR).build()) {
      Call<String> x = startHeldPass(batcher);
      Call<String> a1 = submitQueued(batcher, "a1");
      Call<String> b1 = submitQueued(batcher, "b1");

      assertThat(batcher.queued()).isEqualTo(2);
      assertThatThrownBy(() -> batcher.submit("c1"))
          .isInstanceOf(RejectedExecutionException.class)
          .hasMessage(
              "Batcher 'test' already has 2 items waiting, its maxQueued; the item is rejected");
      forward.open();
      x.result();
      batcher.close();
      assertThat(List.of(a1.result(), b1.result())).containsExactly("a1!", "b1!");
    }
    assertThat(outcomes("rejected")).isEqualTo(1);
  }

  @Test
  void aKeyFunctionThatThrowsFailsThatSubmitOnlyWithItsExceptionAsTheCause() throws Exception {
    RuntimeException bad = new IllegalArgumentException("no key for this one");
    forward.open();
    try (DynamicBatcher<String, String> batcher =
        builder(forward)
            .compatibleBy(
                item -> {
                  if (item.startsWith("bad")) {
                    throw bad;
                  }
                  return item.length();
                })
            .build()) {
      assertThatThrownBy(() -> batcher.submit("bad"))
          .isInstanceOf(ExecutionException.class)
          .hasMessageContaining("key function of batcher 'test'")
          .cause()
          .isSameAs(bad);
      assertThat(batcher.submitAsync("bad-async"))
          .failsWithin(Duration.ofSeconds(30))
          .withThrowableOfType(ExecutionException.class)
          .havingCause()
          .isSameAs(bad);
      assertThat(batcher.queued()).isZero();
      assertThat(batcher.submit("ok")).isEqualTo("ok!");
    }

    assertThat(forward.batches).containsExactly(List.of("ok"));
    assertThat(outcomes("failed")).isEqualTo(2);
    assertThat(outcomes("completed")).isEqualTo(1);
  }

  @Test
  void theMetersCarryNoKeyTag() throws Exception {
    forward.open();
    try (DynamicBatcher<String, String> batcher = keyed().build()) {
      batcher.submit("a1");
      batcher.submit("b1");
    }

    List<Meter> meters =
        registry.getMeters().stream()
            .filter(m -> m.getId().getName().startsWith("batcher."))
            .toList();
    assertThat(meters).isNotEmpty();
    assertThat(meters)
        .flatExtracting(m -> m.getId().getTags())
        .extracting(Tag::getKey)
        .containsOnly(
            DynamicBatcher.NAME_TAG, DynamicBatcher.OUTCOME_TAG, DynamicBatcher.BATCH_SIZE_TAG);
  }
}
