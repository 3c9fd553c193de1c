package io.github.forwardcontext.batching;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/**
 * Submits that give up: {@code submit(item, timeout)} and the future of {@code submitAsync}, and
 * how each counts its item once.
 */
class GivingUpTest extends BatcherTestSupport {

  private static final Duration TIMEOUT = Duration.ofMillis(10);

  @Nested
  class ATimedSubmit {
    @Test
    void stillQueuedAtTheTimeoutIsWithdrawnAndNeverReachesABatch() throws Exception {
      Recorder forward = new Recorder(true);
      try (DynamicBatcher<String, String> batcher = builder(forward).build()) {
        Call<String> x = submitAsync(batcher, "x");
        forward.awaitPass();
        Call<String> a = onThread(() -> batcher.submit("a", TIMEOUT));
        ticker.awaitCallerPark();
        assertThat(batcher.queued()).isEqualTo(1);

        ticker.advance(TIMEOUT);

        assertThat(a.thrown())
            .isInstanceOf(TimeoutException.class)
            .hasMessage(
                "Batcher 'test' had not started the item's batch within the timeout of PT0.01S;"
                    + " the item was withdrawn from the queue");
        assertThat(batcher.queued()).isZero();
        forward.open();
        assertThat(x.result()).isEqualTo("x!");
        assertThat(batcher.submit("b")).isEqualTo("b!");
      }

      assertThat(forward.batches).containsExactly(List.of("x"), List.of("b"));
      assertThat(outcomes("timed_out")).isEqualTo(1);
      assertThat(outcomes("cancelled")).isZero();
    }

    @Test
    void whoseBatchRunsAtTheTimeoutReturnsAndTheBatchFinishesForTheOthers() throws Exception {
      Recorder forward = new Recorder(true);
      try (DynamicBatcher<String, String> batcher =
          builder(forward).maxBatchSize(2).maxWait(HOUR).build()) {
        Call<String> a = submitQueued(batcher, "a");
        Call<String> b = onThread(() -> batcher.submit("b", TIMEOUT));
        forward.awaitPass();
        ticker.awaitCallerPark();

        ticker.advance(TIMEOUT);

        assertThat(b.thrown())
            .isInstanceOf(TimeoutException.class)
            .hasMessage(
                "Batcher 'test' had not finished the item's batch within the timeout of PT0.01S;"
                    + " the batch runs on for its other items");
        assertThat(outcomes("completed")).as("counted as the batch ends, not before").isZero();
        forward.open();
        assertThat(a.result()).isEqualTo("a!");
      }

      assertThat(forward.batches).containsExactly(List.of("a", "b"));
      assertThat(outcomes("completed")).isEqualTo(2);
      assertThat(outcomes("timed_out")).isZero();
    }

    @Test
    void thatGetsItsResultInTimeReturnsIt() throws Exception {
      try (DynamicBatcher<String, String> batcher = builder(new Recorder(false)).build()) {
        assertThat(batcher.submit("a", HOUR)).isEqualTo("a!");
      }
      assertThat(outcomes("completed")).isEqualTo(1);
    }

    @Test
    void rejectsANegativeTimeoutWithTheValue() {
      try (DynamicBatcher<String, String> batcher = builder(new Recorder(false)).build()) {
        assertThatThrownBy(() -> batcher.submit("a", Duration.ofMillis(-1)))
            .isInstanceOf(IllegalArgumentException.class)
            .hasMessage("timeout must not be negative but was PT-0.001S");
        assertThatThrownBy(() -> batcher.submit("a", null))
            .isInstanceOf(NullPointerException.class)
            .hasMessage("timeout");
      }
    }
  }

  @Nested
  class AnAsynchronousSubmit {
    @Test
    void completesWithTheResultOffTheDispatcherThread() throws Exception {
      AtomicReference<Thread> completedOn = new AtomicReference<>();
      try (DynamicBatcher<String, String> batcher = builder(new Recorder(false)).build()) {
        CompletableFuture<String> future =
            batcher
                .submitAsync("a")
                .whenComplete((result, failure) -> completedOn.set(Thread.currentThread()));

        assertThat(future.get()).isEqualTo("a!");
      }

      assertThat(completedOn.get().getName()).isNotEqualTo("batcher-test");
      assertThat(outcomes("completed")).isEqualTo(1);
    }

    @Test
    void failsWithTheCauseASubmitWouldSee() throws Exception {
      Exception boom = new Exception("boom");
      try (DynamicBatcher<String, String> batcher =
          builder(
                  batch -> {
                    throw boom;
                  })
              .build()) {
        assertThat(batcher.submitAsync("a"))
            .failsWithin(Duration.ofSeconds(30))
            .withThrowableOfType(ExecutionException.class)
            .havingCause()
            .isSameAs(boom);
        assertThatThrownBy(() -> batcher.submit("b")).cause().isSameAs(boom);
      }
      assertThat(outcomes("failed")).isEqualTo(2);
    }

    @Test
    void cancelledWhileQueuedWithdrawsTheItem() throws Exception {
      Recorder forward = new Recorder(true);
      try (DynamicBatcher<String, String> batcher = builder(forward).build()) {
        Call<String> x = submitAsync(batcher, "x");
        forward.awaitPass();
        CompletableFuture<String> a = batcher.submitAsync("a");
        assertThat(batcher.queued()).isEqualTo(1);

        assertThat(a.cancel(true)).isTrue();

        assertThat(batcher.queued()).isZero();
        assertThat(a).isCancelled();
        forward.open();
        x.result();
        assertThat(batcher.submit("b")).isEqualTo("b!");
      }

      assertThat(forward.batches).containsExactly(List.of("x"), List.of("b"));
      assertThat(outcomes("cancelled")).isEqualTo(1);
    }

    @Test
    void cancelledWhileItsBatchRunsDropsTheResultAndIsCountedOnce() throws Exception {
      Recorder forward = new Recorder(true);
      try (DynamicBatcher<String, String> batcher =
          builder(forward).maxBatchSize(2).maxWait(HOUR).build()) {
        CompletableFuture<String> a = batcher.submitAsync("a");
        CompletableFuture<String> b = batcher.submitAsync("b");
        forward.awaitPass();

        assertThat(a.cancel(false)).isTrue();
        forward.open();

        assertThat(b.get()).isEqualTo("b!");
        assertThat(a).isCancelled();
      }

      assertThat(outcomes("cancelled")).isEqualTo(1);
      assertThat(outcomes("completed")).isEqualTo(1);
    }

    @Test
    void isRejectedAtOnceByAFullOrClosedBatcher() throws Exception {
      Recorder forward = new Recorder(true);
      DynamicBatcher<String, String> batcher = builder(forward).maxQueued(1).build();
      Call<String> x = submitAsync(batcher, "x");
      forward.awaitPass();
      CompletableFuture<String> a = batcher.submitAsync("a");

      assertThatThrownBy(() -> batcher.submitAsync("b"))
          .isInstanceOf(RejectedExecutionException.class)
          .hasMessage(
              "Batcher 'test' already has 1 item waiting, its maxQueued; the item is rejected");
      forward.open();
      assertThat(a.get()).isEqualTo("a!");
      x.result();
      batcher.close();
      assertThatThrownBy(() -> batcher.submitAsync("c"))
          .isInstanceOf(RejectedExecutionException.class)
          .hasMessage("Batcher 'test' is closed; it accepts no more items");
      assertThat(outcomes("rejected")).isEqualTo(2);
    }

    @Test
    void queuedWhenATimedCloseGivesUpFailsWithTheRejection() throws Exception {
      Recorder forward = new Recorder(true);
      DynamicBatcher<String, String> batcher = builder(forward).build();
      Call<String> x = submitAsync(batcher, "x");
      forward.awaitPass();
      CompletableFuture<String> a = batcher.submitAsync("a");

      assertThat(batcher.close(Duration.ZERO)).isFalse();

      assertThat(a)
          .failsWithin(Duration.ofSeconds(30))
          .withThrowableOfType(ExecutionException.class)
          .havingCause()
          .isInstanceOf(RejectedExecutionException.class)
          .withMessage("Batcher 'test' closed with a timeout of PT0S before this item was batched");
      x.thrown();
      batcher.close();
    }

    @Test
    void mayBeCalledFromInsideThePassAndRunsInALaterBatch() throws Exception {
      AtomicReference<DynamicBatcher<String, String>> self = new AtomicReference<>();
      List<CompletableFuture<String>> inner = new CopyOnWriteArrayList<>();
      try (DynamicBatcher<String, String> batcher =
          builder(
                  batch -> {
                    if (batch.contains("outer")) {
                      inner.add(self.get().submitAsync("inner"));
                    }
                    return batch.stream().map(s -> s + "!").toList();
                  })
              .build()) {
        self.set(batcher);

        assertThat(batcher.submit("outer")).isEqualTo("outer!");
        assertThat(inner.getFirst().get()).isEqualTo("inner!");
      }
    }
  }
}
