package io.github.forwardcontext.batching;

import io.github.forwardcontext.BatchSizeTracker;
import io.github.forwardcontext.NoContextLeftBound;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.junit.jupiter.api.Timeout;

/**
 * The fixture of the batcher's tests: a registry and tracker per test, a {@link FakeTicker} as the
 * dispatcher's clock, a gated forward function that records its batches, and submits on their own
 * virtual threads. The class timeout only turns a hang into a failure.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
abstract class BatcherTestSupport implements NoContextLeftBound {

  static final Duration HOUR = Duration.ofHours(1);

  final MeterRegistry registry = new SimpleMeterRegistry();
  final BatchSizeTracker tracker = BatchSizeTracker.builder(registry).build();
  final FakeTicker ticker = new FakeTicker();

  /**
   * A forward function that records each batch and the fake time it started at, answers {@code item
   * + "!"} per item, and holds every pass while its gate is closed.
   */
  final class Recorder implements BatchFunction<String, String> {
    final List<List<String>> batches = new CopyOnWriteArrayList<>();
    final List<Long> startedAt = new CopyOnWriteArrayList<>();
    final List<Object> keys = new CopyOnWriteArrayList<>();
    final Semaphore entered = new Semaphore(0);
    final CountDownLatch gate;
    volatile Consumer<List<String>> inside = batch -> {};

    Recorder(boolean held) {
      this.gate = new CountDownLatch(held ? 1 : 0);
    }

    @Override
    public List<String> apply(List<String> batch) throws Exception {
      batches.add(List.copyOf(batch));
      startedAt.add(ticker.nanosSinceStart());
      entered.release();
      gate.await();
      inside.accept(batch);
      return batch.stream().map(s -> s + "!").toList();
    }

    /** Waits until the next pass has started. */
    void awaitPass() throws InterruptedException {
      entered.acquire();
    }

    void open() {
      gate.countDown();
    }

    List<Integer> sizes() {
      return batches.stream().map(List::size).toList();
    }
  }

  /** A submit on its own virtual thread. */
  record Call<O>(Thread thread, CompletableFuture<O> outcome) {
    O result() throws Exception {
      return outcome.get();
    }

    /** {@return what submit threw} */
    Throwable thrown() throws InterruptedException {
      try {
        outcome.get();
      } catch (ExecutionException e) {
        return e.getCause();
      }
      throw new AssertionError("submit returned normally");
    }
  }

  /** A blocking submit on a virtual thread of its own. */
  interface Submit<O> {
    O submit() throws Exception;
  }

  static <O> Call<O> onThread(Submit<O> submit) {
    CompletableFuture<O> outcome = new CompletableFuture<>();
    Thread thread =
        Thread.ofVirtual()
            .start(
                () -> {
                  try {
                    outcome.complete(submit.submit());
                  } catch (Throwable t) {
                    outcome.completeExceptionally(t);
                  }
                });
    return new Call<>(thread, outcome);
  }

  static <O> Call<O> submitAsync(DynamicBatcher<String, O> batcher, String item) {
    return onThread(() -> batcher.submit(item));
  }

  /** Submits and waits until the item is in the queue, so that queue order is the test's order. */
  static <O> Call<O> submitQueued(DynamicBatcher<String, O> batcher, String item) {
    int before = batcher.queued();
    Call<O> call = submitAsync(batcher, item);
    awaitQueued(batcher, before + 1);
    return call;
  }

  static void awaitQueued(DynamicBatcher<?, ?> batcher, int items) {
    // A safety net only: the queue normally reaches the count within microseconds.
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (batcher.queued() != items) {
      if (System.nanoTime() - deadline > 0) {
        throw new AssertionError(
            "the queue of " + batcher + " did not reach " + items + " items within 30 s");
      }
      Thread.yield();
    }
  }

  DynamicBatcher.Builder<String, String> builder(BatchFunction<String, String> forward) {
    return DynamicBatcher.builder(tracker, forward).ticker(ticker).name("test");
  }

  double outcomes(String outcome) {
    return registry
        .get(DynamicBatcher.ITEMS)
        .tag(DynamicBatcher.NAME_TAG, "test")
        .tag(DynamicBatcher.OUTCOME_TAG, outcome)
        .counter()
        .count();
  }
}
