package io.github.forwardcontext.batching;

import io.github.forwardcontext.AttentionMetadata;
import io.github.forwardcontext.BatchSizeTracker;
import io.github.forwardcontext.ForwardContext;
import io.micrometer.core.instrument.MeterRegistry;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.WeakHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Function;

/**
 * Groups items submitted by concurrent callers into batches, runs each batch as one tracked forward
 * pass, and hands every caller its own result: a dynamic batcher, like Triton's or TensorFlow
 * Serving's, for callers on virtual threads.
 *
 * {@snippet class="io.github.forwardcontext.snippets.BatchingSnippets" region="batcher"}
 *
 * <p>Unless otherwise specified, passing {@code null} to a method of this class or of its builder
 * throws {@link NullPointerException}. Instances are thread-safe.
 *
 * <h2>When a batch runs</h2>
 *
 * <ul>
 *   <li>As soon as {@link Builder#maxBatchSize(int) maxBatchSize} items are queued, they run as one
 *       forward pass. A batch never holds more.
 *   <li>Otherwise the queued items run when the <em>oldest</em> of them has waited {@link
 *       Builder#maxWait(Duration) maxWait}, counted from its arrival in the queue. A lone item runs
 *       no later than {@code maxWait} after it was submitted, and later arrivals never push that
 *       back. Items that queued while a pass was running and have already waited {@code maxWait}
 *       run as soon as the pass ends.
 *   <li>With {@code maxWait} zero (the default), nothing ever waits for company: an idle batcher
 *       runs an item at once, and the items that queue while a pass runs form the next batch.
 *   <li>Batches run one at a time, in queue order, on the batcher's own dispatcher thread, a
 *       virtual thread started by {@link Builder#build()}. One pass at a time is what makes a busy
 *       batcher batch: the next batch fills while the current one runs.
 * </ul>
 *
 * <h2>Results and failures</h2>
 *
 * Result {@code i} of {@link BatchFunction#apply apply} goes to the caller of item {@code i}, also
 * when items are equal. A batch fails as a whole when {@code apply} throws (an {@link Error}
 * included), when it returns {@code null} or a list of another size than the batch, or when the
 * {@linkplain Builder#context(Function) context mapping} throws: each caller of that batch, and
 * only of that batch, then gets an {@link ExecutionException} whose {@linkplain
 * ExecutionException#getCause() cause} is the thrown exception itself (for a wrong-sized list, an
 * {@link IllegalStateException} saying so). Nothing a batch does stops the dispatcher: the next
 * batch runs normally. A failure in the metrics or in their logging (an {@link Error} included) is
 * logged if it can be and never fails a batch; only a {@link VirtualMachineError} may end the
 * dispatcher, after the callers of its batch have their outcomes. Should the dispatcher ever end
 * that way, the batcher closes: the queued items fail with a {@link RejectedExecutionException}
 * saying so, and {@link #submit} rejects new ones.
 *
 * <h2>The forward context of a batch</h2>
 *
 * Each batch runs as a tracked pass of the builder's {@link BatchSizeTracker}: {@code
 * tracker.where(timestep, metadata, forwardBatch).call(() -> forward.apply(items))}, so {@value
 * BatchSizeTracker#METER_NAME} records it under its batch size, and {@link
 * ForwardContext#current()} is bound inside {@code apply}. By default the context has timestep 0,
 * attention metadata whose {@link AttentionMetadata#batchSize() batchSize()} is the number of
 * items, and the {@link Batch} of the items as its forward batch. {@link Builder#context(Function)}
 * maps a batch to a context of the pipeline's own, with its own timestep and metadata:
 *
 * {@snippet class="io.github.forwardcontext.snippets.BatchingSnippets" region="context"}
 *
 * <p>The dispatcher thread inherits nothing from the callers: none of their forward contexts,
 * scoped values or inheritable thread-locals is visible inside {@code apply}. Subtasks that {@code
 * apply} forks in a {@code StructuredTaskScope} (for example with {@link
 * io.github.forwardcontext.structured.FanOut FanOut}) inherit the batch's context.
 *
 * <h2>Submitting from inside a pass</h2>
 *
 * A pass that waited for an item of its own batcher would wait for itself: that item's batch can
 * only run after the current one. So {@link #submit} throws {@link IllegalStateException} when it
 * is called on the dispatcher thread, in a structured subtask forked inside the pass (whatever the
 * context mapping binds), or on any thread whose bound forward context is the running pass's or
 * carries its {@link Batch} (such as a {@code FanOut} subtask in {@code VIRTUAL_THREADS} mode). A
 * plain thread that the pass starts without handing it the pass's context is not recognised: its
 * submit queues normally, and a pass that waits for it deadlocks.
 *
 * <h2>The queue</h2>
 *
 * At most {@link Builder#maxQueued(int) maxQueued} items wait for a batch; the items of a running
 * pass do not count. When the queue is full, {@link #submit} throws {@link
 * RejectedExecutionException} at once instead of blocking: a service sheds load rather than piling
 * up requests that would time out anyway.
 *
 * <h2>Interruption</h2>
 *
 * A caller interrupted while its item is queued takes the item out of the queue and gets {@link
 * InterruptedException}; the item never reaches a batch. A caller interrupted while its batch runs
 * gets {@link InterruptedException} at once; the batch runs on for the other callers and the
 * interrupted caller's result is dropped. Neither waits for the running pass.
 *
 * <h2>Closing</h2>
 *
 * {@link #close()} stops accepting items, runs what is queued without waiting for {@code maxWait},
 * and waits for the last pass. {@link #close(Duration)} waits at most a given time, then fails the
 * items still queued with {@link RejectedExecutionException} and interrupts the running pass,
 * without waiting for it.
 *
 * <h2>Metrics</h2>
 *
 * Registered in the {@linkplain BatchSizeTracker#registry() tracker's registry}, each tagged
 * {@value #NAME_TAG} with the {@linkplain Builder#name(String) batcher's name}:
 *
 * <ul>
 *   <li>{@value #QUEUE_WAIT}, a timer: per item, the time from its arrival in the queue to the
 *       start of its batch.
 *   <li>{@value #BATCHES}, a counter per batch size, tagged {@value #BATCH_SIZE_TAG} with the
 *       number of items: the distribution of the batch sizes that formed. It counts items per
 *       batch, which the {@value BatchSizeTracker#METER_NAME} timers do not when a {@linkplain
 *       Builder#context(Function) context mapping} reports another batch size (tokens, samples).
 *   <li>{@value #QUEUE_DEPTH}, a gauge: the items waiting for a batch.
 *   <li>{@value #ITEMS}, a counter per outcome, tagged {@value #OUTCOME_TAG}: {@code completed} (a
 *       result was delivered), {@code failed} (its batch failed), {@code rejected} (refused by a
 *       full or closed batcher, or failed by a timed-out close) and {@code cancelled} (its caller
 *       was interrupted). Each submitted item is counted once.
 * </ul>
 *
 * A batcher registers at most {@code maxBatchSize + 6} meters. Meters are shared by name and tags,
 * so the names of the live batchers of a registry must be unique: {@link Builder#build()} rejects a
 * name in use, and the default names are unique in the JVM. When the batcher has closed and its
 * last pass has ended (it has terminated), its gauge is removed from the registry and its name is
 * free again; the counters and the timer stay.
 *
 * @param <I> the type of the items
 * @param <O> the type of the results
 */
public final class DynamicBatcher<I, O> implements AutoCloseable {

  /** The name of the queue-wait timer: {@value}. */
  public static final String QUEUE_WAIT = "batcher.queue.wait";

  /** The name of the queue-depth gauge: {@value}. */
  public static final String QUEUE_DEPTH = "batcher.queue.depth";

  /** The name of the counters of batches by size: {@value}. */
  public static final String BATCHES = "batcher.batches";

  /** The name of the counters of items by outcome: {@value}. */
  public static final String ITEMS = "batcher.items";

  /** The tag that carries the batcher's name: {@value}. */
  public static final String NAME_TAG = "batcher";

  /** The tag that carries an item's outcome: {@value}. */
  public static final String OUTCOME_TAG = "outcome";

  /** The tag that carries the number of items of a batch: {@value}. */
  public static final String BATCH_SIZE_TAG = "batch.size";

  static final Duration MAX_MAX_WAIT = Duration.ofHours(1);

  private static final int DEFAULT_MAX_BATCH_SIZE = 8;
  private static final int DEFAULT_MAX_QUEUED = 1024;

  /** Numbers the default names: "batcher-1", "batcher-2", ... */
  private static final AtomicLong UNNAMED = new AtomicLong();

  /** The names of the live batchers of each registry; guarded by itself. */
  private static final Map<MeterRegistry, Set<String>> LIVE_NAMES = new WeakHashMap<>();

  /** The batcher whose pass runs; bound by the dispatcher around each pass. */
  private static final ScopedValue<DynamicBatcher<?, ?>> RUNNING = ScopedValue.newInstance();

  private final String name;
  private final BatchSizeTracker tracker;
  private final BatchFunction<I, O> forward;
  private final Function<? super Batch<I>, ? extends ForwardContext> context;
  private final int maxBatchSize;
  private final long maxWaitNanos;
  private final int maxQueued;
  private final Ticker ticker;
  private final BatcherMetrics metrics;

  private final ReentrantLock lock = new ReentrantLock();
  private final ArrayDeque<Slot<I, O>> queue = new ArrayDeque<>(); // guarded by lock
  private boolean closing; // guarded by lock
  private Throwable died; // guarded by lock: what ended the dispatcher loop, if it failed
  // The running pass's Batch and the context bound inside it; written by the dispatcher only.
  private volatile Batch<I> runningBatch;
  private volatile ForwardContext runningContext;
  private volatile int depth;
  private final CountDownLatch terminated = new CountDownLatch(1);
  private final Thread dispatcher;
  private long batchNumber; // dispatcher only

  private DynamicBatcher(Builder<I, O> builder) {
    this.name = builder.name;
    this.tracker = builder.tracker;
    this.forward = builder.forward;
    this.context = builder.context;
    this.maxBatchSize = builder.maxBatchSize;
    this.maxWaitNanos = builder.maxWait.toNanos();
    this.maxQueued = builder.maxQueued;
    this.ticker = builder.ticker;
    this.metrics = new BatcherMetrics(tracker.registry(), name, maxBatchSize, this);
    // A fresh virtual thread inherits no scoped values; inheritable thread-locals are off too, so
    // nothing of the thread that built the batcher leaks into the passes.
    this.dispatcher =
        Thread.ofVirtual()
            .name("batcher-" + name)
            .inheritInheritableThreadLocals(false)
            .unstarted(this::dispatch);
  }

  /**
   * {@return a builder for a batcher that runs {@code forward} on each batch as a pass of {@code
   * tracker}}
   *
   * @param tracker the tracker that times the passes; its registry receives the batcher's metrics
   * @param forward the forward pass to run on each batch
   * @param <I> the type of the items
   * @param <O> the type of the results
   */
  public static <I, O> Builder<I, O> builder(
      BatchSizeTracker tracker, BatchFunction<I, O> forward) {
    return new Builder<>(
        Objects.requireNonNull(tracker, "tracker"), Objects.requireNonNull(forward, "forward"));
  }

  /**
   * Queues an item, waits until its batch has run, and returns the item's result.
   *
   * @param item the item
   * @return the result the forward function returned for this item
   * @throws InterruptedException if the calling thread is interrupted before or while waiting; the
   *     item is then taken out of the queue, or its result dropped if its batch already runs
   * @throws ExecutionException if the item's batch failed; its cause is what the forward function
   *     (or the context mapping) threw, or an {@link IllegalStateException} if the forward function
   *     returned a result list of the wrong size
   * @throws RejectedExecutionException if {@code maxQueued} items are already waiting, if the
   *     batcher is closed, or if a {@linkplain #close(Duration) timed close} gave up on the item
   * @throws IllegalStateException if called from inside the forward function or a subtask of it
   *     (see "Submitting from inside a pass"), where it would wait for its own pass
   */
  public O submit(I item) throws InterruptedException, ExecutionException {
    Objects.requireNonNull(item, "item");
    if (insideOwnPass()) {
      throw new IllegalStateException(
          "submit was called from inside the forward function of batcher '"
              + name
              + "' (or a subtask of it); the item's batch could only run after the current one");
    }
    if (Thread.interrupted()) {
      throw new InterruptedException();
    }
    Slot<I, O> slot = new Slot<>(item, Thread.currentThread());
    String refusal = null;
    lock.lock();
    try {
      if (died != null) {
        refusal =
            "Batcher '" + name + "' stopped after its dispatcher failed; it accepts no more items";
      } else if (closing) {
        refusal = "Batcher '" + name + "' is closed; it accepts no more items";
      } else if (queue.size() >= maxQueued) {
        refusal =
            "Batcher '"
                + name
                + "' already has "
                + queue.size()
                + " items waiting, its maxQueued; the item is rejected";
      } else {
        // Stamped under the lock: queue order is arrival order, so the head is the oldest item.
        slot.arrival = ticker.read();
        queue.addLast(slot);
        depth = queue.size();
      }
    } finally {
      lock.unlock();
    }
    if (refusal != null) {
      metrics.rejected();
      throw new RejectedExecutionException(refusal);
    }
    LockSupport.unpark(dispatcher);
    return await(slot);
  }

  /** {@return the number of items waiting for a batch} The items of a running pass do not count. */
  public int queued() {
    return depth;
  }

  /** {@return this batcher's name, the value of its meters' {@value #NAME_TAG} tag} */
  public String name() {
    return name;
  }

  /**
   * Closes this batcher: rejects new items, runs the queued ones without waiting for {@code
   * maxWait}, and waits until the last pass has ended. Calling it again, or from inside the forward
   * function or a subtask of it (where it does not wait), is harmless. If the calling thread is
   * interrupted while it waits, it goes on waiting and its interrupt status is set again on return.
   */
  @Override
  public void close() {
    beginClose();
    if (insideOwnPass()) {
      return;
    }
    boolean interrupted = false;
    while (true) {
      try {
        terminated.await();
        break;
      } catch (InterruptedException e) {
        interrupted = true;
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }

  /**
   * Closes this batcher like {@link #close()}, but waits at most {@code timeout}. If the queued
   * items and the running pass have not all finished by then, the items still queued are failed:
   * their callers get a {@link RejectedExecutionException} saying the batcher closed before the
   * item was batched. The running pass, if any, is interrupted (whether it stops early is up to the
   * forward function) and not waited for. Called from inside the forward function, it closes the
   * batcher, does not wait, and returns {@code false}.
   *
   * @param timeout how long to wait for the queue to drain and the running pass to end
   * @return {@code true} if every item had run when this method returned, {@code false} if the
   *     timeout elapsed
   * @throws InterruptedException if the calling thread is interrupted while waiting; the batcher is
   *     then closed, and goes on running what is queued
   * @throws IllegalArgumentException if {@code timeout} is negative
   */
  public boolean close(Duration timeout) throws InterruptedException {
    Objects.requireNonNull(timeout, "timeout");
    if (timeout.isNegative()) {
      throw new IllegalArgumentException("timeout must not be negative but was " + timeout);
    }
    beginClose();
    if (insideOwnPass()) {
      return false;
    }
    long nanos =
        timeout.compareTo(Duration.ofNanos(Long.MAX_VALUE)) >= 0
            ? Long.MAX_VALUE
            : timeout.toNanos();
    if (terminated.await(nanos, TimeUnit.NANOSECONDS)) {
      return true;
    }
    List<Slot<I, O>> left;
    lock.lock();
    try {
      left = new ArrayList<>(queue);
      queue.clear();
      depth = 0;
    } finally {
      lock.unlock();
    }
    String message =
        "Batcher '"
            + name
            + "' closed with a timeout of "
            + timeout
            + " before this item was batched";
    for (Slot<I, O> slot : left) {
      if (slot.settle(null, new RejectedExecutionException(message), Slot.REJECTED)) {
        try {
          metrics.rejected();
        } finally {
          slot.wake();
        }
      }
    }
    dispatcher.interrupt();
    return false;
  }

  /**
   * {@return whether the calling thread works for this batcher's running pass} That is the
   * dispatcher itself, a structured subtask forked inside the pass (it inherits the scoped value
   * the dispatcher binds), or any thread whose bound forward context is the pass's own or carries
   * its {@link Batch} (a {@code FanOut} subtask in {@code VIRTUAL_THREADS} mode, or a thread handed
   * the context). Such a thread would wait for a batch that can only run after the current one.
   */
  private boolean insideOwnPass() {
    if (Thread.currentThread() == dispatcher || (RUNNING.isBound() && RUNNING.get() == this)) {
      return true;
    }
    ForwardContext current = ForwardContext.orElse(null);
    if (current == null) {
      return false;
    }
    ForwardContext context = runningContext;
    Batch<I> batch = runningBatch;
    return (context != null && current == context)
        || (batch != null && current.forwardBatch() == batch);
  }

  @Override
  public String toString() {
    return "DynamicBatcher[name="
        + name
        + ", maxBatchSize="
        + maxBatchSize
        + ", maxWait="
        + Duration.ofNanos(maxWaitNanos)
        + ", maxQueued="
        + maxQueued
        + ", queued="
        + depth
        + "]";
  }

  private void beginClose() {
    lock.lock();
    try {
      closing = true;
    } finally {
      lock.unlock();
    }
    LockSupport.unpark(dispatcher);
  }

  private O await(Slot<I, O> slot) throws InterruptedException, ExecutionException {
    while (slot.state == Slot.PENDING) {
      LockSupport.park(slot);
      if (Thread.interrupted()) {
        if (cancel(slot)) {
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

  /** Withdraws an interrupted caller's item; {@code false} if its outcome is already there. */
  private boolean cancel(Slot<I, O> slot) {
    boolean removed;
    lock.lock();
    try {
      removed = queue.remove(slot); // identity: Slot does not override equals
      if (removed) {
        depth = queue.size();
      }
    } finally {
      lock.unlock();
    }
    if (removed || Slot.STATE.compareAndSet(slot, Slot.PENDING, Slot.CANCELLED)) {
      slot.state = Slot.CANCELLED;
      metrics.cancelled();
      return true;
    }
    return false;
  }

  /*
   * The dispatcher loop. Under the lock it decides: run a batch now (a full batch is queued, the
   * oldest item's wait is over, maxWait is zero, or the batcher is closing), park until the oldest
   * item's deadline, or park until an item arrives. It parks without the lock; submit() unparks it
   * after queueing, and the park permit makes sure no wake-up is lost between the decision and the
   * park. Every return from a park, spurious or not, goes back to the decision, so the deadline is
   * always the oldest queued item's arrival plus maxWait: a later arrival or a withdrawn item can
   * only change which item is the oldest. A pass runs outside the lock, so callers queue, withdraw
   * and get rejected while it runs.
   */
  private void dispatch() {
    try {
      while (true) {
        List<Slot<I, O>> batch = null;
        boolean idle = false;
        long deadline = 0;
        lock.lock();
        try {
          int queued = queue.size();
          if (queued == 0) {
            if (closing) {
              return;
            }
            idle = true;
          } else if (queued >= maxBatchSize || closing || maxWaitNanos == 0) {
            batch = take(queued);
          } else {
            deadline = queue.peekFirst().arrival + maxWaitNanos;
            if (ticker.read() - deadline >= 0) {
              batch = take(queued);
            }
          }
        } finally {
          lock.unlock();
        }
        if (batch != null) {
          runBatch(batch);
        } else if (idle) {
          LockSupport.park(this);
        } else {
          ticker.parkUntil(this, deadline);
        }
        // An interrupt is meant for one pass (close(Duration) or the forward function's own);
        // left set, it would turn every later park into a busy loop.
        Thread.interrupted();
      }
    } catch (Throwable t) {
      // Nothing should get here (runBatch catches what a batch throws, the metrics what they
      // throw, a VirtualMachineError aside); if the loop dies anyway, no caller may wait forever.
      failQueued(t);
      try {
        System.getLogger(DynamicBatcher.class.getName())
            .log(
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
        releaseName(tracker.registry(), name);
        metrics.terminated();
      } finally {
        terminated.countDown();
      }
    }
  }

  /** Closes this batcher after its dispatcher loop failed and fails every queued item. */
  private void failQueued(Throwable cause) {
    List<Slot<I, O>> left;
    lock.lock();
    try {
      closing = true;
      died = cause;
      left = new ArrayList<>(queue);
      queue.clear();
      depth = 0;
    } finally {
      lock.unlock();
    }
    String message =
        "Batcher '" + name + "' stopped after its dispatcher failed, before this item was batched";
    for (Slot<I, O> slot : left) {
      if (slot.settle(null, new RejectedExecutionException(message, cause), Slot.REJECTED)) {
        try {
          metrics.rejected();
        } catch (Throwable ignored) {
          // The callers are what matters now.
        } finally {
          slot.wake();
        }
      }
    }
  }

  private List<Slot<I, O>> take(int queued) {
    int size = Math.min(queued, maxBatchSize);
    List<Slot<I, O>> batch = new ArrayList<>(size);
    for (int i = 0; i < size; i++) {
      batch.add(queue.pollFirst());
    }
    depth = queue.size();
    return batch;
  }

  // Throws only a VirtualMachineError of the metrics, and only after every caller of the batch was
  // settled and woken: whatever a batch does, the dispatcher goes on with the next one.
  private void runBatch(List<Slot<I, O>> slots) {
    int size = slots.size();
    Object[] results = null;
    Throwable failure = null;
    try {
      long start = ticker.read();
      Object[] itemArray = new Object[size];
      for (int i = 0; i < size; i++) {
        Slot<I, O> slot = slots.get(i);
        itemArray[i] = slot.item;
        metrics.queueWait(start - slot.arrival);
      }
      metrics.batch(size);
      @SuppressWarnings("unchecked")
      List<I> items = (List<I>) Collections.unmodifiableList(Arrays.asList(itemArray));
      Batch<I> batch = new Batch<>(++batchNumber, items);
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
                "The forward function returned null instead of " + size + " results");
      } else {
        results = returned.toArray();
        if (results.length != size) {
          failure =
              new IllegalStateException(
                  "The forward function returned "
                      + results.length
                      + " results for a batch of "
                      + size
                      + " items");
        }
      }
    } catch (Throwable t) { // Errors too: a pass that fails must not take the dispatcher with it
      failure = t;
      results = null;
    } finally {
      runningBatch = null;
      runningContext = null;
    }
    settle(slots, results, failure);
  }

  /** Hands each caller its outcome and wakes it, whatever the metrics throw. */
  private void settle(List<Slot<I, O>> slots, Object[] results, Throwable failure) {
    Throwable metricsFailure = null;
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
          if (failure == null) {
            metrics.completed();
          } else {
            metrics.failed();
          }
        } catch (Throwable t) { // only a VirtualMachineError gets here
          metricsFailure = metricsFailure == null ? t : metricsFailure;
        } finally {
          slot.wake();
        }
      }
    }
    if (metricsFailure instanceof Error error) {
      throw error;
    }
  }

  private static void reserveName(MeterRegistry registry, String name) {
    synchronized (LIVE_NAMES) {
      if (!LIVE_NAMES.computeIfAbsent(registry, r -> new HashSet<>()).add(name)) {
        throw new IllegalArgumentException(
            "name must be unique among the live batchers of a registry but '"
                + name
                + "' is used by a batcher on "
                + registry
                + " that has not terminated");
      }
    }
  }

  private static void releaseName(MeterRegistry registry, String name) {
    synchronized (LIVE_NAMES) {
      Set<String> names = LIVE_NAMES.get(registry);
      if (names != null) {
        names.remove(name);
        if (names.isEmpty()) {
          LIVE_NAMES.remove(registry);
        }
      }
    }
  }

  /** The default context's attention metadata: the number of items. */
  private record ItemCount(int batchSize) implements AttentionMetadata {}

  /** One caller's item and, once its batch has run, its outcome. */
  static final class Slot<I, O> {
    static final int PENDING = 0;
    static final int DONE = 1;
    static final int FAILED = 2;
    static final int REJECTED = 3;
    static final int CANCELLED = 4;
    static final VarHandle STATE;

    static {
      try {
        STATE = MethodHandles.lookup().findVarHandle(Slot.class, "state", int.class);
      } catch (ReflectiveOperationException e) {
        throw new ExceptionInInitializerError(e);
      }
    }

    final I item;
    final Thread caller;
    long arrival; // guarded by the batcher's lock until the slot is taken into a batch
    O result; // published by the CAS on state
    Throwable failure;
    volatile int state;

    Slot(I item, Thread caller) {
      this.item = item;
      this.caller = caller;
    }

    /**
     * Settles the outcome unless the caller gave up first; {@code true} if this call settled it.
     */
    boolean settle(O result, Throwable failure, int outcome) {
      this.result = result;
      this.failure = failure;
      return STATE.compareAndSet(this, PENDING, outcome);
    }

    /** Wakes the caller to collect its settled outcome. */
    void wake() {
      LockSupport.unpark(caller);
    }
  }

  /**
   * Configures a {@link DynamicBatcher}. Obtained from {@link DynamicBatcher#builder}; not
   * thread-safe.
   *
   * @param <I> the type of the items
   * @param <O> the type of the results
   */
  public static final class Builder<I, O> {
    private final BatchSizeTracker tracker;
    private final BatchFunction<I, O> forward;
    private int maxBatchSize = DEFAULT_MAX_BATCH_SIZE;
    private Duration maxWait = Duration.ZERO;
    private int maxQueued = DEFAULT_MAX_QUEUED;
    private String name;
    private Function<? super Batch<I>, ? extends ForwardContext> context =
        batch -> ForwardContext.where(0, new ItemCount(batch.size()), batch);
    private Ticker ticker = Ticker.SYSTEM;

    private Builder(BatchSizeTracker tracker, BatchFunction<I, O> forward) {
      this.tracker = tracker;
      this.forward = forward;
    }

    /**
     * Sets the most items a batch holds; 8 by default. A full batch runs at once.
     *
     * @param maxBatchSize the largest batch, at least 1
     * @return this builder
     * @throws IllegalArgumentException if {@code maxBatchSize} is less than 1
     */
    public Builder<I, O> maxBatchSize(int maxBatchSize) {
      if (maxBatchSize < 1) {
        throw new IllegalArgumentException("maxBatchSize must be positive but was " + maxBatchSize);
      }
      this.maxBatchSize = maxBatchSize;
      return this;
    }

    /**
     * Sets how long the oldest queued item waits for more items before its batch runs anyway; zero
     * by default (no item waits for company).
     *
     * @param maxWait the longest wait, counted from the oldest queued item's arrival; from zero to
     *     one hour
     * @return this builder
     * @throws IllegalArgumentException if {@code maxWait} is negative or longer than one hour
     */
    public Builder<I, O> maxWait(Duration maxWait) {
      Objects.requireNonNull(maxWait, "maxWait");
      if (maxWait.isNegative() || maxWait.compareTo(MAX_MAX_WAIT) > 0) {
        throw new IllegalArgumentException(
            "maxWait must be from zero to " + MAX_MAX_WAIT + " but was " + maxWait);
      }
      this.maxWait = maxWait;
      return this;
    }

    /**
     * Sets how many items may wait for a batch; 1024 by default. When that many wait, {@link
     * DynamicBatcher#submit submit} rejects further items at once.
     *
     * @param maxQueued the most items waiting, at least 1
     * @return this builder
     * @throws IllegalArgumentException if {@code maxQueued} is less than 1
     */
    public Builder<I, O> maxQueued(int maxQueued) {
      if (maxQueued < 1) {
        throw new IllegalArgumentException("maxQueued must be positive but was " + maxQueued);
      }
      this.maxQueued = maxQueued;
      return this;
    }

    /**
     * Sets the batcher's name, the value of its meters' {@value #NAME_TAG} tag and part of its
     * dispatcher thread's name; by default a name unique in the JVM, {@code "batcher-1"}, {@code
     * "batcher-2"} and so on. Names must be unique among the live batchers of a registry: {@link
     * #build()} fails for a name that a batcher not yet terminated uses on the same registry.
     *
     * @param name the name; not blank
     * @return this builder
     * @throws IllegalArgumentException if {@code name} is blank
     */
    public Builder<I, O> name(String name) {
      Objects.requireNonNull(name, "name");
      if (name.isBlank()) {
        throw new IllegalArgumentException("name must not be blank but was '" + name + "'");
      }
      this.name = name;
      return this;
    }

    /**
     * Sets how a batch becomes the forward context its pass binds: the timestep, the attention
     * metadata the pass is timed under, and the forward batch. By default the timestep is 0, the
     * metadata's batch size is the number of items, and the forward batch is the {@link Batch}
     * itself. The mapping runs on the dispatcher thread before each pass; if it throws, that batch
     * fails with its exception.
     *
     * @param context maps a batch to the context of its pass; must not return {@code null}
     * @return this builder
     */
    public Builder<I, O> context(Function<? super Batch<I>, ? extends ForwardContext> context) {
      this.context = Objects.requireNonNull(context, "context");
      return this;
    }

    // Tests drive the dispatcher's clock and observe its timed waits.
    Builder<I, O> ticker(Ticker ticker) {
      this.ticker = Objects.requireNonNull(ticker, "ticker");
      return this;
    }

    /**
     * {@return a new batcher, its dispatcher thread started and its meters registered}
     *
     * @throws IllegalArgumentException if a batcher of the same name on the same registry has not
     *     yet terminated (closed and ended its last pass)
     */
    public DynamicBatcher<I, O> build() {
      if (name == null) {
        name = "batcher-" + UNNAMED.incrementAndGet();
      }
      MeterRegistry registry = tracker.registry();
      reserveName(registry, name);
      try {
        DynamicBatcher<I, O> batcher = new DynamicBatcher<>(this);
        batcher.dispatcher.start();
        return batcher;
      } catch (Throwable t) {
        releaseName(registry, name);
        throw t;
      }
    }
  }
}
