package io.github.forwardcontext.batching;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.forwardcontext.AttentionMetadata;
import io.github.forwardcontext.BatchSizeTracker;
import io.github.forwardcontext.ForwardContext;
import io.github.forwardcontext.LogCapture;
import io.github.forwardcontext.ThrowingMeterFilters;
import io.github.forwardcontext.structured.FanOut;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The batcher's semantics, one behaviour per test, in groups by concern. Threads are coordinated
 * with latches and the dispatcher's clock is a {@link FakeTicker} (see {@link BatcherTestSupport}).
 * {@code compatibleBy} is tested in {@link CompatibleBatchesTest}, timeouts and asynchronous
 * submits in {@link GivingUpTest}.
 */
@SuppressWarnings("try") // resources held open only for their lifetime
class DynamicBatcherTest extends BatcherTestSupport {

  /** The FanOut modes this runtime runs: structured needs --enable-preview. */
  static Stream<FanOut.Mode> availableModes() {
    return FanOut.structuredUnavailabilityCause().isEmpty()
        ? Stream.of(FanOut.Mode.values())
        : Stream.of(FanOut.Mode.VIRTUAL_THREADS);
  }

  // 1. A full batch dispatches at once, as one pass; never more than maxBatchSize.
  @Nested
  class AFullBatch {

    @Test
    void aFullBatchRunsAtOnceAsOneForwardPassWithoutWaitingForMaxWait() throws Exception {
      Recorder forward = new Recorder(false);
      try (DynamicBatcher<String, String> batcher =
          builder(forward).maxBatchSize(3).maxWait(HOUR).build()) {
        Call<String> a = submitQueued(batcher, "a");
        Call<String> b = submitQueued(batcher, "b");
        Call<String> c = submitAsync(batcher, "c");

        // The fake clock never moves: only the full batch can have triggered the pass.
        assertThat(List.of(a.result(), b.result(), c.result())).containsExactly("a!", "b!", "c!");
        assertThat(forward.batches).containsExactly(List.of("a", "b", "c"));
        assertThat(forward.startedAt).containsExactly(0L);
      }
    }

    @Test
    void batchesNeverExceedMaxBatchSize() throws Exception {
      Recorder forward = new Recorder(true);
      try (DynamicBatcher<String, String> batcher = builder(forward).maxBatchSize(2).build()) {
        Call<String> first = submitAsync(batcher, "x");
        forward.awaitPass();
        List<Call<String>> queued = new ArrayList<>();
        for (String item : List.of("a", "b", "c", "d", "e")) {
          queued.add(submitQueued(batcher, item));
        }
        forward.open();

        assertThat(first.result()).isEqualTo("x!");
        for (Call<String> call : queued) {
          call.result();
        }
        assertThat(forward.batches)
            .containsExactly(List.of("x"), List.of("a", "b"), List.of("c", "d"), List.of("e"));
      }
    }
  }

  // 2. Max wait counts from the oldest queued item's arrival.
  @Nested
  class MaxWait {

    @Test
    void aLoneItemRunsExactlyMaxWaitAfterItWasQueued() throws Exception {
      Recorder forward = new Recorder(false);
      Duration maxWait = Duration.ofMillis(10);
      try (DynamicBatcher<String, String> batcher =
          builder(forward).maxBatchSize(4).maxWait(maxWait).build()) {
        Call<String> a = submitAsync(batcher, "a");
        FakeTicker.Park park = ticker.awaitParkAt(FakeTicker.START);
        assertThat(park.deadline()).isEqualTo(FakeTicker.START + maxWait.toNanos());

        ticker.advance(maxWait.minusNanos(1));
        ticker.awaitParkAt(FakeTicker.START + maxWait.toNanos() - 1);
        assertThat(forward.batches).as("one nanosecond before the deadline").isEmpty();

        ticker.advance(Duration.ofNanos(1));
        assertThat(a.result()).isEqualTo("a!");
        assertThat(forward.startedAt).containsExactly(maxWait.toNanos());
      }
    }

    @Test
    void laterArrivalsDoNotExtendTheOldestItemsWait() throws Exception {
      Recorder forward = new Recorder(false);
      try (DynamicBatcher<String, String> batcher =
          builder(forward).maxBatchSize(4).maxWait(Duration.ofMillis(10)).build()) {
        Call<String> a = submitAsync(batcher, "a");
        ticker.awaitParkAt(FakeTicker.START);
        ticker.advance(Duration.ofMillis(6));
        ticker.awaitParkAt(FakeTicker.START + Duration.ofMillis(6).toNanos());
        Call<String> b = submitQueued(batcher, "b"); // b alone would wait until 16 ms

        ticker.advance(Duration.ofMillis(4));

        assertThat(List.of(a.result(), b.result())).containsExactly("a!", "b!");
        assertThat(forward.batches).containsExactly(List.of("a", "b"));
        assertThat(forward.startedAt).containsExactly(Duration.ofMillis(10).toNanos());
        assertThat(ticker.parks())
            .extracting(FakeTicker.Park::deadline)
            .containsOnly(FakeTicker.START + Duration.ofMillis(10).toNanos());
      }
    }

    @Test
    void withZeroMaxWaitItemsQueuedDuringAPassFormTheNextBatchWithoutATimedWait() throws Exception {
      Recorder forward = new Recorder(true);
      try (DynamicBatcher<String, String> batcher =
          builder(forward).maxBatchSize(8).maxWait(Duration.ZERO).build()) {
        Call<String> x = submitAsync(batcher, "x");
        forward.awaitPass();
        Call<String> b = submitQueued(batcher, "b");
        Call<String> c = submitQueued(batcher, "c");
        forward.open();

        assertThat(List.of(x.result(), b.result(), c.result())).containsExactly("x!", "b!", "c!");
        assertThat(forward.batches).containsExactly(List.of("x"), List.of("b", "c"));
        assertThat(ticker.parks()).as("timed waits of the dispatcher").isEmpty();
      }
    }

    @Test
    void itemsThatWaitedOutMaxWaitDuringAPassRunRightAfterIt() throws Exception {
      Recorder forward = new Recorder(true);
      try (DynamicBatcher<String, String> batcher =
          builder(forward).maxBatchSize(8).maxWait(Duration.ofMillis(5)).build()) {
        Call<String> x = submitAsync(batcher, "x");
        ticker.awaitParkAt(FakeTicker.START);
        ticker.advance(Duration.ofMillis(5));
        forward.awaitPass();
        Call<String> b = submitQueued(batcher, "b");
        ticker.advance(Duration.ofMillis(7)); // b has waited 7 ms when the pass ends
        forward.open();

        assertThat(List.of(x.result(), b.result())).containsExactly("x!", "b!");
        assertThat(forward.startedAt).containsExactly(5_000_000L, 12_000_000L);
        // Only x waited on the clock (perhaps twice, if a wake-up permit was left over).
        assertThat(ticker.parks()).extracting(FakeTicker.Park::at).containsOnly(FakeTicker.START);
      }
    }
  }

  // 3. Each caller gets its own result.
  @Nested
  class Results {

    @Test
    void eachCallerGetsTheResultAtItsItemsIndexAlsoWhenItemsAreEqual() throws Exception {
      Recorder gate = new Recorder(true);
      BatchFunction<String, String> forward =
          batch -> {
            gate.apply(batch);
            List<String> results = new ArrayList<>();
            for (int i = 0; i < batch.size(); i++) {
              results.add(batch.get(i) + "#" + i);
            }
            return results;
          };
      try (DynamicBatcher<String, String> batcher = builder(forward).maxBatchSize(3).build()) {
        Call<String> x = submitAsync(batcher, "x");
        gate.awaitPass();
        List<Call<String>> same = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
          same.add(submitQueued(batcher, "same"));
        }
        gate.open();

        assertThat(x.result()).isEqualTo("x#0");
        for (int i = 0; i < 3; i++) {
          assertThat(same.get(i).result()).as("caller %d", i).isEqualTo("same#" + i);
        }
      }
    }

    @Test
    void aResultListOfTheWrongSizeFailsThatBatchOnly() throws Exception {
      BatchFunction<String, String> forward =
          batch -> batch.contains("short") ? List.of() : batch.stream().map(s -> s + "!").toList();
      try (DynamicBatcher<String, String> batcher = builder(forward).build()) {
        Throwable thrown = submitAsync(batcher, "short").thrown();

        assertThat(thrown)
            .isInstanceOf(ExecutionException.class)
            .cause()
            .isInstanceOf(IllegalStateException.class)
            .hasMessage("The forward function returned 0 results for a batch of 1 item");
        assertThat(batcher.submit("next")).isEqualTo("next!");
      }
    }
  }

  // 4. A failing batch fails exactly its own callers; nothing stops the dispatcher.
  @Nested
  class Failures {

    @Test
    void aFailingBatchFailsExactlyItsOwnCallersWithTheForwardFunctionsException() throws Exception {
      Recorder gate = new Recorder(true);
      AtomicReference<Exception> boom = new AtomicReference<>();
      BatchFunction<String, String> forward =
          batch -> {
            if (batch.contains("bad")) {
              Exception e = new Exception("boom");
              boom.set(e);
              throw e;
            }
            return gate.apply(batch);
          };
      try (DynamicBatcher<String, String> batcher = builder(forward).maxBatchSize(2).build()) {
        Call<String> x = submitAsync(batcher, "x");
        gate.awaitPass();
        Call<String> bad = submitQueued(batcher, "bad");
        Call<String> sameBatch = submitQueued(batcher, "ok");
        Call<String> nextBatch = submitQueued(batcher, "next");
        gate.open();

        assertThat(x.result()).isEqualTo("x!");
        assertThat(bad.thrown())
            .isInstanceOf(ExecutionException.class)
            .cause()
            .isSameAs(boom.get());
        assertThat(sameBatch.thrown())
            .isInstanceOf(ExecutionException.class)
            .cause()
            .isSameAs(boom.get());
        assertThat(nextBatch.result()).isEqualTo("next!");
      }
    }

    @Test
    void anErrorThrownByTheForwardFunctionFailsItsBatchAndTheDispatcherGoesOn() throws Exception {
      Error error = new Error("fatal-looking");
      BatchFunction<String, String> forward =
          batch -> {
            if (batch.contains("bad")) {
              throw error;
            }
            return batch.stream().map(s -> s + "!").toList();
          };
      try (DynamicBatcher<String, String> batcher = builder(forward).build()) {
        assertThat(submitAsync(batcher, "bad").thrown())
            .isInstanceOf(ExecutionException.class)
            .cause()
            .isSameAs(error);
        assertThat(batcher.submit("next")).isEqualTo("next!");
      }
    }

    @Test
    void aBadItemThatBreaksTheContextMappingFailsItsBatchAndTheLoopSurvives() throws Exception {
      RuntimeException poisoned = new IllegalArgumentException("poisoned item");
      try (DynamicBatcher<String, String> batcher =
          builder(new Recorder(false))
              .context(
                  batch -> {
                    if (batch.items().contains("poison")) {
                      throw poisoned;
                    }
                    return ForwardContext.where(0, batch::size, batch);
                  })
              .build()) {
        assertThat(submitAsync(batcher, "poison").thrown())
            .isInstanceOf(ExecutionException.class)
            .cause()
            .isSameAs(poisoned);
        assertThat(batcher.submit("next")).isEqualTo("next!");
        assertThat(batcher.submit("and-next")).isEqualTo("and-next!");
      }
    }
  }

  // 5. A bounded queue.
  @Nested
  class TheQueue {

    @Test
    void aFullQueueRejectsAtOnceWithoutBlocking() throws Exception {
      Recorder forward = new Recorder(true);
      try (DynamicBatcher<String, String> batcher =
          builder(forward).maxBatchSize(8).maxQueued(2).build()) {
        Call<String> x = submitAsync(batcher, "x");
        forward.awaitPass();
        Call<String> a = submitQueued(batcher, "a");
        Call<String> b = submitQueued(batcher, "b");

        // On the test thread: if submit blocked here, the pass would never be released.
        assertThatThrownBy(() -> batcher.submit("c"))
            .isInstanceOf(RejectedExecutionException.class)
            .hasMessage(
                "Batcher 'test' already has 2 items waiting, its maxQueued; the item is rejected");
        assertThat(outcomes("rejected")).isEqualTo(1);

        forward.open();
        assertThat(List.of(x.result(), a.result(), b.result())).containsExactly("x!", "a!", "b!");
        assertThat(forward.batches).containsExactly(List.of("x"), List.of("a", "b"));
      }
    }
  }

  // 6. Interruption.
  @Nested
  class Interruption {

    @Test
    void aCallerInterruptedWhileQueuedGetsInterruptedExceptionAndItsItemNeverRuns()
        throws Exception {
      Recorder forward = new Recorder(true);
      try (DynamicBatcher<String, String> batcher = builder(forward).build()) {
        Call<String> x = submitAsync(batcher, "x");
        forward.awaitPass();
        Call<String> a = submitQueued(batcher, "a");

        a.thread().interrupt();

        // Returned while the pass still runs: the gate is open only after this.
        assertThat(a.thrown()).isInstanceOf(InterruptedException.class);
        assertThat(batcher.queued()).isZero();
        forward.open();
        assertThat(x.result()).isEqualTo("x!");
        assertThat(batcher.submit("b")).isEqualTo("b!");
        assertThat(forward.batches).containsExactly(List.of("x"), List.of("b"));
        assertThat(outcomes("cancelled")).isEqualTo(1);
      }
    }

    @Test
    void aCallerInterruptedWhileItsBatchRunsReturnsAtOnceAndTheBatchFinishesForTheOthers()
        throws Exception {
      Recorder forward = new Recorder(true);
      try (DynamicBatcher<String, String> batcher =
          builder(forward).maxBatchSize(2).maxWait(HOUR).build()) {
        Call<String> a = submitQueued(batcher, "a");
        Call<String> b = submitAsync(batcher, "b");
        forward.awaitPass();

        a.thread().interrupt();

        assertThat(a.thrown()).isInstanceOf(InterruptedException.class);
        forward.open();
        assertThat(b.result()).isEqualTo("b!");
        assertThat(forward.batches).containsExactly(List.of("a", "b"));
      }
      // After close: the dispatcher has counted everything it delivered.
      assertThat(outcomes("cancelled")).isEqualTo(1);
      assertThat(outcomes("completed")).isEqualTo(1);
    }

    @Test
    void aCallerAlreadyInterruptedIsNotQueued() {
      try (DynamicBatcher<String, String> batcher = builder(new Recorder(false)).build()) {
        Thread.currentThread().interrupt();

        assertThatThrownBy(() -> batcher.submit("a")).isInstanceOf(InterruptedException.class);
        assertThat(Thread.interrupted()).isFalse();
        assertThat(batcher.queued()).isZero();
      }
    }
  }

  // 7. Closing.
  @Nested
  class Closing {

    @Test
    void closeRejectsNewItems() {
      DynamicBatcher<String, String> batcher = builder(new Recorder(false)).build();
      batcher.close();

      assertThatThrownBy(() -> batcher.submit("late"))
          .isInstanceOf(RejectedExecutionException.class)
          .hasMessage("Batcher 'test' is closed; it accepts no more items");
      assertThat(outcomes("rejected")).isEqualTo(1);
    }

    @Test
    void closeRunsWhatIsQueuedWithoutMaxWaitAndReturnsAfterTheLastPass() throws Exception {
      Recorder forward = new Recorder(true);
      List<String> events = new CopyOnWriteArrayList<>();
      forward.inside = batch -> events.add("pass " + batch);
      DynamicBatcher<String, String> batcher =
          builder(forward).maxBatchSize(8).maxWait(HOUR).build();
      Call<String> x = submitQueued(batcher, "x");
      ticker.advance(HOUR);
      forward.awaitPass();
      Call<String> a = submitQueued(batcher, "a"); // would wait an hour of the fake clock

      Thread closer =
          Thread.ofVirtual()
              .start(
                  () -> {
                    batcher.close();
                    events.add("closed");
                  });
      forward.open();
      closer.join();

      assertThat(events).containsExactly("pass [x]", "pass [a]", "closed");
      assertThat(List.of(x.result(), a.result())).containsExactly("x!", "a!");
    }

    @Test
    void closeIsIdempotent() throws Exception {
      DynamicBatcher<String, String> batcher = builder(new Recorder(false)).build();
      assertThat(batcher.submit("a")).isEqualTo("a!");

      batcher.close();
      batcher.close();

      assertThat(batcher.close(Duration.ZERO)).isTrue();
    }

    @Test
    void aTimedCloseFailsTheQueuedItemsAndInterruptsTheRunningPassWithoutWaitingForIt()
        throws Exception {
      Recorder forward = new Recorder(true);
      DynamicBatcher<String, String> batcher = builder(forward).build();
      Call<String> running = submitAsync(batcher, "running");
      forward.awaitPass();
      Call<String> queued = submitQueued(batcher, "queued");

      assertThat(batcher.close(Duration.ZERO)).isFalse();

      assertThat(queued.thrown())
          .isInstanceOf(RejectedExecutionException.class)
          .hasMessage("Batcher 'test' closed with a timeout of PT0S before this item was batched");
      // The pass waited on its gate, which is never opened: only the interrupt ended it.
      assertThat(running.thrown())
          .isInstanceOf(ExecutionException.class)
          .cause()
          .isInstanceOf(InterruptedException.class);
      batcher.close();
      assertThat(forward.batches).containsExactly(List.of("running"));
      assertThat(outcomes("rejected")).isEqualTo(1);
      assertThat(outcomes("failed")).isEqualTo(1);
    }
  }

  // 8. The forward context of a batch.
  @Nested
  class TheForwardContextOfABatch {

    @Test
    void eachBatchIsATrackedPassRecordedUnderItsSize() throws Exception {
      try (DynamicBatcher<String, String> batcher =
          builder(new Recorder(false)).maxBatchSize(2).maxWait(HOUR).build()) {
        Call<String> a = submitQueued(batcher, "a");
        Call<String> b = submitAsync(batcher, "b");
        a.result();
        b.result();
      }

      Timer passes =
          registry
              .get(BatchSizeTracker.METER_NAME)
              .tag(BatchSizeTracker.BATCH_SIZE_TAG, "2")
              .timer();
      assertThat(passes.count()).isEqualTo(1);
    }

    @Test
    void insideApplyTheContextCarriesTheBatchSizeAndTheItems() throws Exception {
      AtomicReference<ForwardContext> seen = new AtomicReference<>();
      AtomicReference<List<String>> applied = new AtomicReference<>();
      BatchFunction<String, String> forward =
          batch -> {
            seen.set(ForwardContext.current());
            applied.set(batch);
            return batch;
          };
      try (DynamicBatcher<String, String> batcher =
          builder(forward).maxBatchSize(2).maxWait(HOUR).build()) {
        Call<String> a = submitQueued(batcher, "a");
        Call<String> b = submitAsync(batcher, "b");
        a.result();
        b.result();
      }

      ForwardContext context = seen.get();
      assertThat(context.currentTimestep()).isZero();
      assertThat(context.attnMetadata().batchSize()).isEqualTo(2);
      Batch<?> batch = context.forwardBatch(Batch.class);
      assertThat(batch.items()).isSameAs(applied.get()).isEqualTo(List.of("a", "b"));
      assertThat(batch.size()).isEqualTo(2);
      assertThat(batch.number()).isEqualTo(1);
    }

    record Tokens(int batchSize) implements AttentionMetadata {}

    @Test
    void aContextMappingSetsTheTimestepAndTheMetadataThePassIsTimedUnder() throws Exception {
      AtomicReference<ForwardContext> seen = new AtomicReference<>();
      BatchFunction<String, String> forward =
          batch -> {
            seen.set(ForwardContext.current());
            return batch;
          };
      try (DynamicBatcher<String, String> batcher =
          builder(forward)
              .context(
                  batch ->
                      ForwardContext.where(
                          750,
                          new Tokens(batch.items().stream().mapToInt(String::length).sum()),
                          batch))
              .build()) {
        batcher.submit("four");
      }

      assertThat(seen.get().currentTimestep()).isEqualTo(750);
      assertThat(seen.get().attnMetadata(Tokens.class).batchSize()).isEqualTo(4);
      assertThat(
              registry
                  .get(BatchSizeTracker.METER_NAME)
                  .tag(BatchSizeTracker.BATCH_SIZE_TAG, "4")
                  .timer()
                  .count())
          .isEqualTo(1);
    }

    private static final ScopedValue<String> CALLERS_OWN = ScopedValue.newInstance();

    @Test
    void noCallersBindingsAreVisibleInsideApply() throws Exception {
      List<Object> seen = new CopyOnWriteArrayList<>();
      BatchFunction<String, String> forward =
          batch -> {
            seen.add(ForwardContext.current().currentTimestep());
            seen.add(ForwardContext.current().forwardBatch() instanceof Batch<?>);
            seen.add(CALLERS_OWN.isBound());
            return batch;
          };
      try (DynamicBatcher<String, String> batcher = builder(forward).build()) {
        String result =
            ScopedValue.where(CALLERS_OWN, "caller")
                .call(() -> ForwardContext.where(999, () -> 1).call(() -> batcher.submit("a")));

        assertThat(result).isEqualTo("a");
      }

      assertThat(seen).containsExactly(0, true, false);
    }

    @Test
    void structuredSubtasksForkedInsideApplyInheritTheBatchsContext() throws Exception {
      AtomicReference<ForwardContext> outer = new AtomicReference<>();
      List<ForwardContext> inner = new CopyOnWriteArrayList<>();
      BatchFunction<String, String> forward =
          batch -> {
            outer.set(ForwardContext.current());
            inner.addAll(FanOut.named("per-item").invokeAll(3, i -> ForwardContext.current()));
            return batch;
          };
      try (DynamicBatcher<String, String> batcher = builder(forward).build()) {
        batcher.submit("a");
      }

      assertThat(inner).hasSize(3).allSatisfy(c -> assertThat(c).isSameAs(outer.get()));
    }

    @Test
    void passesRunOnTheBatchersOwnVirtualThread() throws Exception {
      List<Thread> threads = new CopyOnWriteArrayList<>();
      BatchFunction<String, String> forward =
          batch -> {
            threads.add(Thread.currentThread());
            return batch;
          };
      try (DynamicBatcher<String, String> batcher = builder(forward).build()) {
        batcher.submit("a");
        submitAsync(batcher, "b").result();
      }

      assertThat(Set.copyOf(threads)).hasSize(1);
      assertThat(threads.getFirst().isVirtual()).isTrue();
      assertThat(threads.getFirst().getName()).isEqualTo("batcher-test");
    }

    @Test
    void submittingFromInsideTheForwardFunctionFailsInsteadOfWaitingForItself() throws Exception {
      AtomicReference<DynamicBatcher<String, String>> self = new AtomicReference<>();
      BatchFunction<String, String> forward =
          batch -> {
            if (batch.contains("reentrant")) {
              self.get().submit("inner");
            }
            return batch;
          };
      try (DynamicBatcher<String, String> batcher = builder(forward).build()) {
        self.set(batcher);

        assertThatThrownBy(() -> batcher.submit("reentrant"))
            .isInstanceOf(ExecutionException.class)
            .cause()
            .isInstanceOf(IllegalStateException.class)
            .hasMessageContaining("from inside the forward function of batcher 'test'");
        assertThat(batcher.submit("next")).isEqualTo("next");
      }
    }

    /**
     * A forward function that, for a batch holding "reentrant", submits from one FanOut subtask in
     * {@code mode} and collects what that submit returned or threw.
     */
    private static BatchFunction<String, String> submittingFromASubtask(
        FanOut.Mode mode,
        AtomicReference<DynamicBatcher<String, String>> self,
        List<Object> thrown) {
      return batch -> {
        if (batch.contains("reentrant")) {
          thrown.addAll(
              FanOut.named("inner")
                  .withMode(mode)
                  .invokeAll(
                      1,
                      i -> {
                        try {
                          return self.get().submit("inner");
                        } catch (Throwable t) {
                          return t;
                        }
                      }));
        }
        return batch;
      };
    }

    @ParameterizedTest
    @MethodSource("io.github.forwardcontext.batching.DynamicBatcherTest#availableModes")
    void submittingFromAFanOutSubtaskInsideTheForwardFunctionFailsInsteadOfDeadlocking(
        FanOut.Mode mode) throws Exception {
      AtomicReference<DynamicBatcher<String, String>> self = new AtomicReference<>();
      List<Object> thrown = new CopyOnWriteArrayList<>();
      BatchFunction<String, String> forward = submittingFromASubtask(mode, self, thrown);
      try (DynamicBatcher<String, String> batcher = builder(forward).build()) {
        self.set(batcher);

        assertThat(batcher.submit("reentrant")).isEqualTo("reentrant");
        assertThat(batcher.submit("next")).isEqualTo("next");
      }

      assertThat(thrown)
          .singleElement()
          .isInstanceOfSatisfying(
              IllegalStateException.class,
              e -> assertThat(e).hasMessageContaining("of batcher 'test'"));
    }

    @ParameterizedTest
    @MethodSource("io.github.forwardcontext.batching.DynamicBatcherTest#availableModes")
    void aSubtaskIsRecognisedAlsoWhenTheContextMappingReplacesTheForwardBatch(FanOut.Mode mode)
        throws Exception {
      AtomicReference<DynamicBatcher<String, String>> self = new AtomicReference<>();
      List<Object> thrown = new CopyOnWriteArrayList<>();
      BatchFunction<String, String> forward = submittingFromASubtask(mode, self, thrown);
      try (DynamicBatcher<String, String> batcher =
          builder(forward).context(batch -> ForwardContext.where(0, new Tokens(1))).build()) {
        self.set(batcher);

        assertThat(batcher.submit("reentrant")).isEqualTo("reentrant");
      }

      assertThat(thrown).singleElement().isInstanceOf(IllegalStateException.class);
    }
  }

  // 9. Metrics.
  @Nested
  class Metrics {

    @Test
    void anErrorOfAMeterFilterNeitherStrandsTheBatchsCallersNorStopsTheDispatcher()
        throws Exception {
      AtomicBoolean armed = new AtomicBoolean(true);
      registry
          .config()
          .meterFilter(
              ThrowingMeterFilters.throwing(
                  id -> id.getName().equals(DynamicBatcher.BATCHES) && armed.getAndSet(false),
                  () -> new AssertionError("meter filter failed")));
      try (DynamicBatcher<String, String> batcher = builder(batch -> batch).build()) {
        assertThat(submitAsync(batcher, "a").result()).isEqualTo("a");
        assertThat(armed).as("the filter threw").isFalse();
        assertThat(batcher.submit("b")).isEqualTo("b");
      }
    }

    @Test
    void ifTheDispatcherLoopDiesTheQueuedItemsFailAndLaterSubmitsAreRejected() throws Exception {
      AtomicBoolean armed = new AtomicBoolean(true);
      Ticker failing =
          new Ticker() {
            @Override
            public long read() {
              // Only the dispatcher's read outside a pass, deciding whether maxWait is over.
              if (Thread.currentThread().getName().equals("batcher-test")
                  && armed.getAndSet(false)) {
                throw new AssertionError("clock failed");
              }
              return ticker.read();
            }

            @Override
            public void parkUntil(Object blocker, long deadline) {
              ticker.parkUntil(blocker, deadline);
            }
          };
      try (LogCapture log = new LogCapture(DynamicBatcher.class.getName())) {
        DynamicBatcher<String, String> batcher =
            builder(batch -> batch).ticker(failing).maxWait(HOUR).build();

        assertThat(submitAsync(batcher, "a").thrown())
            .isInstanceOf(RejectedExecutionException.class)
            .hasMessageContaining("Batcher 'test' stopped after its dispatcher failed")
            .hasRootCauseMessage("clock failed");
        assertThatThrownBy(() -> batcher.submit("b"))
            .isInstanceOf(RejectedExecutionException.class)
            .hasMessageContaining("Batcher 'test' stopped");
        batcher.close(); // returns once the dispatcher has ended: its failure is logged by then

        assertThat(log.records())
            .anySatisfy(
                r -> {
                  assertThat(r.getLevel()).isEqualTo(java.util.logging.Level.SEVERE);
                  assertThat(r.getMessage()).contains("dispatcher of batcher 'test' stopped");
                  assertThat(r.getThrown()).hasMessage("clock failed");
                });
      }
    }

    @Test
    void defaultNamesAreUniqueInTheJvm() {
      try (DynamicBatcher<String, String> first =
              DynamicBatcher.<String, String>builder(tracker, b -> b).build();
          DynamicBatcher<String, String> second =
              DynamicBatcher.<String, String>builder(tracker, b -> b).build()) {
        assertThat(first.name()).startsWith("batcher-").isNotEqualTo(second.name());
        assertThat(registry.find(DynamicBatcher.QUEUE_DEPTH).gauges()).hasSize(2);
      }
    }

    @Test
    void aNameInUseByALiveBatcherOfTheSameRegistryIsRejectedUntilThatBatcherTerminated() {
      DynamicBatcher<String, String> first = builder(batch -> batch).build();

      assertThatThrownBy(() -> builder(batch -> batch).build())
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageStartingWith("name must be unique among the live batchers of a registry")
          .hasMessageContaining("'test'");
      BatchSizeTracker other = BatchSizeTracker.builder(new SimpleMeterRegistry()).build();
      DynamicBatcher.builder(other, b -> b).name("test").build().close();

      first.close();
      try (DynamicBatcher<String, String> again = builder(batch -> batch).build()) {
        assertThat(
                registry
                    .get(DynamicBatcher.QUEUE_DEPTH)
                    .tag(DynamicBatcher.NAME_TAG, "test")
                    .gauge())
            .isNotNull();
      }
    }

    @Test
    void queueWaitIsRecordedPerItemFromItsArrivalToItsBatchsStart() throws Exception {
      try (DynamicBatcher<String, String> batcher =
          builder(new Recorder(false)).maxBatchSize(4).maxWait(Duration.ofMillis(10)).build()) {
        Call<String> a = submitAsync(batcher, "a");
        ticker.awaitParkAt(FakeTicker.START);
        ticker.advance(Duration.ofMillis(4));
        ticker.awaitParkAt(FakeTicker.START + Duration.ofMillis(4).toNanos());
        Call<String> b = submitQueued(batcher, "b");
        ticker.advance(Duration.ofMillis(6));
        a.result();
        b.result();
      }

      Timer wait =
          registry.get(DynamicBatcher.QUEUE_WAIT).tag(DynamicBatcher.NAME_TAG, "test").timer();
      assertThat(wait.count()).isEqualTo(2);
      assertThat(wait.totalTime(TimeUnit.MILLISECONDS)).isEqualTo(16.0);
      assertThat(wait.max(TimeUnit.MILLISECONDS)).isEqualTo(10.0);
    }

    @Test
    void batchSizesAreCountedAndTheQueueDepthIsAGaugeUntilClosed() throws Exception {
      Recorder forward = new Recorder(true);
      try (DynamicBatcher<String, String> batcher = builder(forward).build()) {
        Call<String> x = submitAsync(batcher, "x");
        forward.awaitPass();
        Call<String> a = submitQueued(batcher, "a");
        Call<String> b = submitQueued(batcher, "b");

        assertThat(registry.get(DynamicBatcher.QUEUE_DEPTH).gauge().value()).isEqualTo(2);

        forward.open();
        x.result();
        a.result();
        b.result();
        assertThat(registry.get(DynamicBatcher.QUEUE_DEPTH).gauge().value()).isZero();
      }

      assertThat(registry.get(DynamicBatcher.BATCHES).tag("batch.size", "1").counter().count())
          .isEqualTo(1);
      assertThat(registry.get(DynamicBatcher.BATCHES).tag("batch.size", "2").counter().count())
          .isEqualTo(1);
      assertThat(registry.find(DynamicBatcher.BATCHES).counters()).hasSize(2);
      assertThat(registry.find(DynamicBatcher.QUEUE_DEPTH).gauge())
          .as("gauge after close")
          .isNull();
    }

    @Test
    void completedAndFailedItemsAreCountedByOutcome() throws Exception {
      BatchFunction<String, String> forward =
          batch -> {
            if (batch.contains("bad")) {
              throw new IllegalStateException("bad");
            }
            return batch;
          };
      try (DynamicBatcher<String, String> batcher = builder(forward).build()) {
        batcher.submit("a");
        batcher.submit("b");
        assertThatThrownBy(() -> batcher.submit("bad")).isInstanceOf(ExecutionException.class);
      }

      assertThat(outcomes("completed")).isEqualTo(2);
      assertThat(outcomes("failed")).isEqualTo(1);
      assertThat(outcomes("rejected")).isZero();
      assertThat(outcomes("cancelled")).isZero();
    }
  }

  // Bad input.
  @Nested
  class BadInput {

    @ParameterizedTest
    @ValueSource(ints = {0, -3})
    void aBatchSizeBelowOneIsRejectedWithTheSettingAndTheValue(int size) {
      assertThatThrownBy(() -> DynamicBatcher.builder(tracker, batch -> batch).maxBatchSize(size))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("maxBatchSize must be positive but was " + size);
    }

    @Test
    void aQueueBoundBelowOneIsRejectedWithTheSettingAndTheValue() {
      assertThatThrownBy(() -> DynamicBatcher.builder(tracker, batch -> batch).maxQueued(0))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("maxQueued must be positive but was 0");
    }

    @Test
    void aMaxWaitOutsideZeroToAnHourIsRejectedWithTheSettingAndTheValue() {
      DynamicBatcher.Builder<String, String> builder = DynamicBatcher.builder(tracker, b -> b);

      assertThatThrownBy(() -> builder.maxWait(Duration.ofMillis(-1)))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("maxWait must be from zero to PT1H but was PT-0.001S");
      assertThatThrownBy(() -> builder.maxWait(Duration.ofMinutes(61)))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("maxWait must be from zero to PT1H but was PT1H1M");
    }

    @Test
    void aBlankNameAndANegativeCloseTimeoutAreRejected() {
      assertThatThrownBy(() -> DynamicBatcher.builder(tracker, b -> b).name(" "))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("name must not be blank but was ' '");
      try (DynamicBatcher<String, String> batcher = builder(new Recorder(false)).build()) {
        assertThatThrownBy(() -> batcher.close(Duration.ofSeconds(-1)))
            .isInstanceOf(IllegalArgumentException.class)
            .hasMessage("timeout must not be negative but was PT-1S");
      }
    }

    @Test
    void nullArgumentsAreRejectedWithTheirName() {
      assertThatThrownBy(() -> DynamicBatcher.builder(null, b -> b))
          .isInstanceOf(NullPointerException.class)
          .hasMessage("tracker");
      try (DynamicBatcher<String, String> batcher = builder(new Recorder(false)).build()) {
        assertThatThrownBy(() -> batcher.submit(null))
            .isInstanceOf(NullPointerException.class)
            .hasMessage("item");
      }
    }
  }
}
