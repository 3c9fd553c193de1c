package io.github.forwardcontext.batching;

import io.github.forwardcontext.internal.Durations;
import io.github.forwardcontext.internal.FailureLog;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * The callers' side of a batcher: an item's key, its slot in the queue, the wait for its outcome,
 * and giving up (interrupted, timed out, cancelled), each counted once.
 *
 * @param <I> the type of the items
 * @param <O> the type of the results
 */
final class Submissions<I, O> {
  private final String name;
  private final Function<? super I, ?> key; // null without compatibleBy
  private final Supplier<?> submitterContext; // null: nothing captured per item
  private final Ticker ticker;
  private final BatchQueue<I, O> queue;
  private final BatcherMetrics metrics;
  private final Dispatcher<I, O> dispatcher;
  private final FailureLog captureFailures;

  Submissions(
      String name,
      Function<? super I, ?> key,
      Supplier<?> submitterContext,
      Ticker ticker,
      BatchQueue<I, O> queue,
      BatcherMetrics metrics,
      Dispatcher<I, O> dispatcher) {
    this.name = name;
    this.key = key;
    this.submitterContext = submitterContext;
    this.ticker = ticker;
    this.queue = queue;
    this.metrics = metrics;
    this.dispatcher = dispatcher;
    this.captureFailures =
        new FailureLog(
            System.getLogger(DynamicBatcher.class.getName()),
            "Batcher '"
                + name
                + "' could not capture a submitter context; the item goes without it");
  }

  /** A blocking submit; {@code timeout} {@code null} waits without one. */
  O submit(I item, Duration timeout)
      throws InterruptedException, ExecutionException, TimeoutException {
    long deadline = 0;
    if (timeout != null) {
      if (timeout.isNegative()) {
        throw new IllegalArgumentException("timeout must not be negative but was " + timeout);
      }
      deadline = ticker.read() + Durations.saturatedNanos(timeout);
    }
    if (dispatcher.isInsidePass()) {
      throw new IllegalStateException(
          "submit was called from inside the forward function of batcher '"
              + name
              + "' (or a subtask of it); the item's batch could only run after the current one");
    }
    if (Thread.interrupted()) {
      metrics.cancelled();
      throw new InterruptedException();
    }
    Slot<I, O> slot;
    try {
      slot = Slot.blocking(item, keyOf(item), capture());
    } catch (KeyFailure e) {
      throw new ExecutionException(e.getMessage(), e.getCause());
    }
    enqueue(slot);
    return await(slot, timeout, deadline);
  }

  CompletableFuture<O> submitAsync(I item) {
    ItemFuture<O> future = new ItemFuture<>(this);
    Slot<I, O> slot;
    try {
      slot = Slot.async(item, keyOf(item), capture(), future);
    } catch (KeyFailure e) {
      future.completeExceptionally(e.getCause());
      return future;
    }
    future.slot = slot;
    enqueue(slot);
    return future;
  }

  /** The key function failed for an item; carries its exception as the cause. */
  private static final class KeyFailure extends Exception {
    KeyFailure(String message, Throwable cause) {
      super(message, cause, false, false);
    }
  }

  private Object keyOf(I item) throws KeyFailure {
    if (key == null) {
      return null;
    }
    try {
      return key.apply(item);
    } catch (Throwable t) {
      metrics.failed();
      FailureLog.rethrowIfFatal(t);
      throw new KeyFailure("The key function of batcher '" + name + "' failed for the item", t);
    }
  }

  private Object capture() {
    if (submitterContext == null) {
      return null;
    }
    try {
      return submitterContext.get();
    } catch (Throwable e) {
      FailureLog.rethrowIfFatal(e);
      captureFailures.log(e); // observability must not fail a submit: the item goes without it
      return null;
    }
  }

  private void enqueue(Slot<I, O> slot) {
    String refusal = queue.offer(slot);
    if (refusal != null) {
      metrics.rejected();
      throw new RejectedExecutionException(refusal);
    }
    dispatcher.wake();
  }

  private O await(Slot<I, O> slot, Duration timeout, long deadline)
      throws InterruptedException, ExecutionException, TimeoutException {
    while (slot.state == Slot.PENDING) {
      if (timeout == null) {
        LockSupport.park(slot);
      } else if (ticker.read() - deadline >= 0) {
        if (queue.withdraw(slot)) {
          slot.state = Slot.TIMED_OUT;
          metrics.timedOut();
          throw new TimeoutException(
              "Batcher '"
                  + name
                  + "' had not started the item's batch within the timeout of "
                  + timeout
                  + "; the item was withdrawn from the queue");
        }
        if (slot.state == Slot.PENDING) {
          // Settled and counted by the dispatcher as the batch ends.
          throw new TimeoutException(
              "Batcher '"
                  + name
                  + "' had not finished the item's batch within the timeout of "
                  + timeout
                  + "; the batch runs on for its other items");
        }
        break;
      } else {
        ticker.parkUntil(slot, deadline);
      }
      if (Thread.interrupted()) {
        if (giveUp(slot)) {
          throw new InterruptedException();
        }
        // The outcome arrived first: hand it over and keep the interrupt for the caller.
        Thread.currentThread().interrupt();
        break;
      }
    }
    return switch (slot.state) {
      case Slot.DONE -> slot.result;
      case Slot.REJECTED -> throw (RejectedExecutionException) slot.failure;
      default -> throw new ExecutionException(slot.failure);
    };
  }

  /**
   * The caller gives up (interrupted, or its future cancelled): withdraws the item if it is still
   * queued, or drops its result if its batch runs, and counts it cancelled; {@code false} if its
   * outcome is already there.
   */
  private boolean giveUp(Slot<I, O> slot) {
    boolean withdrawn = queue.withdraw(slot);
    if (withdrawn) {
      slot.state = Slot.CANCELLED;
    }
    if (withdrawn || slot.abandon(Slot.CANCELLED)) {
      metrics.cancelled();
      return true;
    }
    return false;
  }

  /** The future of {@link DynamicBatcher#submitAsync}: cancelling it gives the item up. */
  private static final class ItemFuture<O> extends CompletableFuture<O> {
    private final Submissions<?, O> submissions;
    private volatile Slot<?, O> slot; // set before the future is returned; null if never queued

    ItemFuture(Submissions<?, O> submissions) {
      this.submissions = submissions;
    }

    @Override
    public boolean cancel(boolean mayInterruptIfRunning) {
      Slot<?, O> queued = slot;
      if (!isDone() && queued != null) {
        giveUp(submissions, queued);
      }
      return super.cancel(mayInterruptIfRunning);
    }

    @SuppressWarnings("unchecked")
    private static <I, O> void giveUp(Submissions<I, O> submissions, Slot<?, O> slot) {
      submissions.giveUp((Slot<I, O>) slot);
    }
  }
}
