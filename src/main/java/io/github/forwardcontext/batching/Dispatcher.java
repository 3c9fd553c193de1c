package io.github.forwardcontext.batching;

import io.github.forwardcontext.BatchSizeTracker;
import io.github.forwardcontext.ForwardContext;
import io.github.forwardcontext.internal.FailureLog;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Function;

/**
 * A batcher's dispatcher: the virtual thread that takes batches from the {@link BatchQueue}, runs
 * each as a tracked pass, and settles its callers; and the one drain that rejects what is left
 * queued, for a timed close and for a dispatcher that failed.
 *
 * <p>The loop, under the queue's lock, decides: run a batch now, park until the earliest deadline
 * of the lanes' oldest items, or park until an item arrives. It parks without the lock; a submit
 * unparks it after queueing, and the park permit makes sure no wake-up is lost between the decision
 * and the park. Every return from a park, spurious or not, goes back to the decision, so the
 * deadline is always recomputed from the items queued then: a later arrival or a withdrawn item can
 * only change which item is the oldest. A pass runs outside the lock, so callers queue, withdraw
 * and get rejected while it runs.
 *
 * <p>What a batch does never ends the loop: {@link #runBatch} catches everything the pass and the
 * context mapping throw, and the metrics catch what they throw, except a {@link
 * VirtualMachineError}. Such an error is held until every caller of the batch has its outcome, and
 * then ends the loop, which closes the batcher and rejects the queued items.
 *
 * @param <I> the type of the items
 * @param <O> the type of the results
 */
final class Dispatcher<I, O> {

  /** The dispatcher whose pass runs; bound around each pass, and inherited by its subtasks. */
  private static final ScopedValue<Dispatcher<?, ?>> RUNNING = ScopedValue.newInstance();

  /** {@return the batch whose pass runs on this thread (or its structured subtask), or null} */
  static Batch<?> currentBatch() {
    return RUNNING.isBound() ? RUNNING.get().runningBatch : null;
  }

  private static final System.Logger LOG = System.getLogger(DynamicBatcher.class.getName());

  private final String name;
  private final MeterRegistry registry;
  private final BatchSizeTracker tracker;
  private final BatchFunction<I, O> forward;
  private final Function<? super Batch<I>, ? extends ForwardContext> context;
  private final BatchQueue<I, O> queue;
  private final BatcherMetrics metrics;
  private final Ticker ticker;
  private final CountDownLatch terminated = new CountDownLatch(1);

  private volatile Thread thread; // written once, by start()
  // The running pass's Batch and the context bound inside it; written by the dispatcher only.
  private volatile Batch<I> runningBatch;
  private volatile ForwardContext runningContext;
  private volatile Duration closedAfter; // the timeout of a timed close that interrupted the pass
  private long batchNumber; // dispatcher only

  Dispatcher(
      String name,
      BatchSizeTracker tracker,
      BatchFunction<I, O> forward,
      Function<? super Batch<I>, ? extends ForwardContext> context,
      BatchQueue<I, O> queue,
      BatcherMetrics metrics,
      Ticker ticker) {
    this.name = name;
    this.registry = tracker.registry();
    this.tracker = tracker;
    this.forward = forward;
    this.context = context;
    this.queue = queue;
    this.metrics = metrics;
    this.ticker = ticker;
  }

  /** Starts the dispatcher thread; called once, by the builder, after construction. */
  void start() {
    // A fresh virtual thread inherits no scoped values; inheritable thread-locals are off too, so
    // nothing of the thread that built the batcher leaks into the passes.
    Thread started =
        Thread.ofVirtual()
            .name("batcher-" + name)
            .inheritInheritableThreadLocals(false)
            .unstarted(this::run);
    thread = started;
    started.start();
  }

  /** Wakes the dispatcher to decide again: an item arrived, or the batcher closes. */
  void wake() {
    LockSupport.unpark(thread);
  }

  /** Waits until the dispatcher has ended; {@code false} if {@code nanos} elapsed first. */
  boolean awaitTermination(long nanos) throws InterruptedException {
    return terminated.await(nanos, TimeUnit.NANOSECONDS);
  }

  /** Waits until the dispatcher has ended. */
  void awaitTermination() throws InterruptedException {
    terminated.await();
  }

  /**
   * {@return whether the calling thread works for the running pass} That is the dispatcher itself,
   * a structured subtask forked inside the pass (it inherits the scoped value bound around the
   * pass), or any thread whose bound forward context is the pass's own or carries its {@link Batch}
   * (a {@code FanOut} subtask in {@code VIRTUAL_THREADS} mode, or a thread handed the context).
   * Such a thread would wait for a batch that can only run after the current one.
   */
  boolean isInsidePass() {
    if (Thread.currentThread() == thread || (RUNNING.isBound() && RUNNING.get() == this)) {
      return true;
    }
    ForwardContext current = ForwardContext.orElse(null);
    if (current == null) {
      return false;
    }
    ForwardContext running = runningContext;
    Batch<I> batch = runningBatch;
    return (running != null && current == running)
        || (batch != null && current.forwardBatch() == batch);
  }

  /**
   * Rejects every queued item with {@code message} and {@code cause}, counts each as rejected and
   * wakes its caller; the one drain of a timed close and of a failed dispatcher. A failure of the
   * metrics never keeps a caller waiting: a {@link VirtualMachineError} is thrown once every caller
   * is woken.
   */
  void rejectQueued(String message, Throwable cause) {
    VirtualMachineError fatal = null;
    for (Slot<I, O> slot : queue.drain(cause)) {
      if (slot.settle(null, new RejectedExecutionException(message, cause), Slot.REJECTED)) {
        try {
          metrics.rejected();
        } catch (VirtualMachineError e) {
          fatal = fatal == null ? e : fatal;
        } finally {
          slot.wake();
        }
      }
    }
    if (fatal != null) {
      throw fatal;
    }
  }

  /** Interrupts the running pass for a timed close that gave up after {@code timeout}. */
  void interruptPass(Duration timeout) {
    closedAfter = timeout;
    thread.interrupt();
  }

  private void run() {
    try {
      while (true) {
        BatchQueue.Step<I, O> step = queue.next();
        switch (step.kind()) {
          case BatchQueue.Step.END -> {
            return;
          }
          case BatchQueue.Step.RUN -> {
            VirtualMachineError fatal = runBatch(step.batch(), step.key());
            if (fatal != null) {
              throw fatal;
            }
          }
          case BatchQueue.Step.IDLE -> LockSupport.park(this);
          default -> ticker.parkUntil(this, step.deadline());
        }
        // An interrupt is meant for one pass (close(Duration) or the forward function's own);
        // left set, it would turn every later park into a busy loop.
        Thread.interrupted();
      }
    } catch (Throwable t) {
      // Only a VirtualMachineError of the metrics, or a failure of the queue's clock, gets here;
      // if the loop dies, no caller may wait forever.
      try {
        rejectQueued(
            "Batcher '"
                + name
                + "' stopped after its dispatcher failed, before this item was batched",
            t);
      } catch (Throwable ignored) {
        // Every caller was woken; t is what ends the loop.
      }
      try {
        LOG.log(
            System.Logger.Level.ERROR,
            "The dispatcher of batcher '" + name + "' stopped; the batcher is closed",
            t);
      } catch (Throwable ignored) {
        // Nothing left to tell: the callers were failed already.
      }
      if (t instanceof VirtualMachineError fatal) {
        throw fatal;
      }
    } finally {
      try {
        metrics.terminated();
      } finally {
        try {
          // Only now: a batcher built under this name must not find the old gauge registered.
          BatcherNames.release(registry, name);
        } finally {
          terminated.countDown();
        }
      }
    }
  }

  /**
   * Runs one batch and settles its callers; returns a {@link VirtualMachineError} of the metrics,
   * if one was thrown, only after every caller has its outcome. A failure of the pass fails the
   * batch; a failure of the metrics never does.
   */
  private VirtualMachineError runBatch(List<Slot<I, O>> slots, Object key) {
    int size = slots.size();
    Object[] results = null;
    Throwable failure = null;
    VirtualMachineError fatal = null;
    try {
      long start = ticker.read();
      Object[] itemArray = new Object[size];
      Object[] submitters = null;
      for (int i = 0; i < size; i++) {
        Slot<I, O> slot = slots.get(i);
        itemArray[i] = slot.item;
        if (slot.submitter != null) {
          submitters = submitters == null ? new Object[size] : submitters;
          submitters[i] = slot.submitter;
        }
        try {
          metrics.queueWait(start - slot.arrival);
        } catch (VirtualMachineError e) {
          fatal = fatal == null ? e : fatal;
        }
      }
      try {
        metrics.batch(size);
      } catch (VirtualMachineError e) {
        fatal = fatal == null ? e : fatal;
      }
      @SuppressWarnings("unchecked")
      List<I> items = (List<I>) Collections.unmodifiableList(Arrays.asList(itemArray));
      List<Object> submitterList =
          submitters == null
              ? Collections.nCopies(size, null)
              : Collections.unmodifiableList(Arrays.asList(submitters));
      Batch<I> batch = new Batch<>(++batchNumber, items, key, submitterList);
      runningBatch = batch;
      ForwardContext bound = context.apply(batch);
      if (bound == null) {
        throw new NullPointerException("The context mapping returned null for " + batch);
      }
      List<O> returned =
          ScopedValue.where(RUNNING, this)
              .call(
                  () ->
                      tracker
                          .where(
                              bound.currentTimestep(), bound.attnMetadata(), bound.forwardBatch())
                          .call(
                              () -> {
                                runningContext = ForwardContext.current();
                                return forward.apply(items);
                              }));
      if (returned == null) {
        failure =
            new IllegalStateException(
                "The forward function returned null instead of " + count(size, "result"));
      } else {
        results = returned.toArray();
        if (results.length != size) {
          failure =
              new IllegalStateException(
                  "The forward function returned "
                      + count(results.length, "result")
                      + " for a batch of "
                      + count(size, "item"));
        }
      }
    } catch (Throwable t) { // Errors too: a pass that fails must not take the dispatcher with it
      failure = t;
      results = null;
    } finally {
      runningBatch = null;
      runningContext = null;
    }
    Duration timeout = closedAfter;
    if (timeout != null && failure instanceof InterruptedException interrupted) {
      InterruptedException described =
          new InterruptedException(
              "Batcher '"
                  + name
                  + "' closed with a timeout of "
                  + timeout
                  + " while this item's batch ran; its pass was interrupted");
      described.initCause(interrupted);
      failure = described;
    }
    VirtualMachineError settling = settle(slots, results, failure);
    return fatal != null ? fatal : settling;
  }

  /**
   * Hands each caller its outcome, counted before the caller wakes, whatever the metrics throw;
   * returns a {@link VirtualMachineError} of the metrics, if any. The futures of asynchronous
   * callers are completed on a thread of their own, so that their dependent actions never run on
   * the dispatcher.
   */
  private VirtualMachineError settle(List<Slot<I, O>> slots, Object[] results, Throwable failure) {
    VirtualMachineError fatal = null;
    List<Slot<I, O>> async = null;
    for (int i = 0; i < slots.size(); i++) {
      Slot<I, O> slot = slots.get(i);
      boolean settled;
      if (failure == null) {
        @SuppressWarnings("unchecked")
        O result = (O) results[i];
        settled = slot.settle(result, null, Slot.DONE);
      } else {
        settled = slot.settle(null, failure, Slot.FAILED);
      }
      if (settled) {
        try {
          // Before the caller wakes: a caller that returned is counted.
          metrics.outcome(failure == null ? Slot.DONE : Slot.FAILED);
        } catch (VirtualMachineError e) {
          fatal = fatal == null ? e : fatal;
        } finally {
          if (slot.isAsync()) {
            async = async == null ? new ArrayList<>() : async;
            async.add(slot);
          } else {
            slot.wake();
          }
        }
      }
    }
    if (async != null) {
      complete(async);
    }
    return fatal;
  }

  private void complete(List<Slot<I, O>> async) {
    try {
      Thread.ofVirtual()
          .name("batcher-" + name + "-completions")
          .inheritInheritableThreadLocals(false)
          .start(() -> async.forEach(Slot::wake));
    } catch (Throwable cannotStart) {
      async.forEach(Slot::wake); // then on the dispatcher, rather than never
      FailureLog.rethrowIfFatal(cannotStart);
    }
  }

  /** {@return "1 item", "2 items": a count and its noun in the right number} */
  static String count(int n, String noun) {
    return n + " " + noun + (n == 1 ? "" : "s");
  }
}
