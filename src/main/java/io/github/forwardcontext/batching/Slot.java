package io.github.forwardcontext.batching;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.locks.LockSupport;

/**
 * One submitted item, its waiting caller and, once settled, its outcome.
 *
 * <p>The state moves once, from {@link #PENDING} to one outcome, by a compare-and-set, so that
 * exactly one party settles the slot and counts it: the dispatcher (a result, a failure), a drain
 * (rejected), or the caller giving up (cancelled) while the batch runs. A slot that is withdrawn
 * from the queue under the queue's lock (interrupted, cancelled or timed out while queued) can no
 * longer be reached by anyone else, so its state is written plainly.
 *
 * <p>A caller waits in one of two ways: a blocking caller parks its thread ({@link #caller}), an
 * asynchronous one holds a {@link #future}. {@link #wake()} reaches either.
 *
 * @param <I> the type of the item
 * @param <O> the type of the result
 */
final class Slot<I, O> {
  static final int PENDING = 0;
  static final int DONE = 1;
  static final int FAILED = 2;
  static final int REJECTED = 3;
  static final int CANCELLED = 4;
  static final int TIMED_OUT = 5;

  private static final VarHandle STATE;

  static {
    try {
      STATE = MethodHandles.lookup().findVarHandle(Slot.class, "state", int.class);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  final I item;
  final Object key;

  /** What the submitter's context was, for the batch to expose; {@code null} if not captured. */
  final Object submitter;

  private final Thread caller; // null for an asynchronous submit
  private final CompletableFuture<O> future; // null for a blocking submit

  long arrival; // guarded by the queue's lock until the slot is taken into a batch
  long sequence; // arrival order; guarded by the queue's lock
  O result; // published by the CAS on state
  Throwable failure;
  volatile int state;

  private Slot(I item, Object key, Object submitter, Thread caller, CompletableFuture<O> future) {
    this.item = item;
    this.key = key;
    this.submitter = submitter;
    this.caller = caller;
    this.future = future;
  }

  /** {@return a slot whose caller blocks on its current thread} */
  static <I, O> Slot<I, O> blocking(I item, Object key, Object submitter) {
    return new Slot<>(item, key, submitter, Thread.currentThread(), null);
  }

  /** {@return a slot whose caller waits for {@code future}} */
  static <I, O> Slot<I, O> async(
      I item, Object key, Object submitter, CompletableFuture<O> future) {
    return new Slot<>(item, key, submitter, null, future);
  }

  boolean isAsync() {
    return future != null;
  }

  /** Settles the outcome unless the caller gave up first; {@code true} if this call settled it. */
  boolean settle(O result, Throwable failure, int outcome) {
    this.result = result;
    this.failure = failure;
    return STATE.compareAndSet(this, PENDING, outcome);
  }

  /** The caller gives up while the batch runs; {@code true} if the outcome was not there yet. */
  boolean abandon(int outcome) {
    return STATE.compareAndSet(this, PENDING, outcome);
  }

  /**
   * Hands the settled outcome to the caller: unparks a blocking caller, completes an asynchronous
   * caller's future (which runs the future's dependent actions on the calling thread).
   */
  void wake() {
    if (future == null) {
      LockSupport.unpark(caller);
      return;
    }
    switch (state) {
      case DONE -> future.complete(result);
      case FAILED, REJECTED -> future.completeExceptionally(failure);
      default -> {
        // The caller gave up: its future is cancelled already.
      }
    }
  }
}
