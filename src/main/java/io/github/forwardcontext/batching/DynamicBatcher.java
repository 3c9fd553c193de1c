package io.github.forwardcontext.batching;

import io.github.forwardcontext.AttentionMetadata;
import io.github.forwardcontext.BatchSizeTracker;
import io.github.forwardcontext.ForwardContext;
import io.github.forwardcontext.internal.Durations;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;
import java.util.function.Supplier;

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
 * <h2>Compatible batches</h2>
 *
 * With {@link Builder#compatibleBy(Function) compatibleBy(key)}, only items with equal keys (by
 * {@link Object#equals equals}) share a batch: requests of one resolution, say. Each key queues on
 * its own, and the rules above hold per key: a key's batch runs when it has {@code maxBatchSize}
 * items or when its oldest item has waited {@code maxWait} (with {@code maxWait} zero, every key
 * with a queued item is ready). When several keys are ready, the key whose oldest item arrived
 * first runs first, so no key starves. One dispatcher serves every key, one pass at a time; {@code
 * maxQueued} bounds the items of all keys together, and {@link #queued()} counts them all. {@link
 * Batch#key()} is the batch's key. The key function runs on the submitting thread; if it throws,
 * that submit fails with an {@link ExecutionException} whose cause is the exception, and the item
 * is counted as failed.
 *
 * {@snippet class="io.github.forwardcontext.snippets.BatchingSnippets" region="compatible"}
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
 * only run after the current one. So the blocking {@link #submit} throws {@link
 * IllegalStateException} when it is called on the dispatcher thread, in a structured subtask forked
 * inside the pass (whatever the context mapping binds), or on any thread whose bound forward
 * context is the running pass's or carries its {@link Batch} (such as a {@code FanOut} subtask in
 * {@code VIRTUAL_THREADS} mode). A plain thread that the pass starts without handing it the pass's
 * context is not recognised: its submit queues normally, and a pass that waits for it deadlocks.
 * {@link #submitAsync} does not wait, so it queues from anywhere; a pass must not wait for the
 * future it returns.
 *
 * <h2>The queue</h2>
 *
 * At most {@link Builder#maxQueued(int) maxQueued} items wait for a batch; the items of a running
 * pass do not count. When the queue is full, {@link #submit} throws {@link
 * RejectedExecutionException} at once instead of blocking: a service sheds load rather than piling
 * up requests that would time out anyway.
 *
 * <h2>Giving up: interruption, timeouts, cancellation</h2>
 *
 * A caller that gives up while its item is queued takes the item out of the queue; the item never
 * reaches a batch. A caller that gives up while its batch runs returns at once; the batch runs on
 * for the other callers, and the caller's result is dropped. Neither waits for the running pass.
 *
 * <ul>
 *   <li>An interrupted caller gets {@link InterruptedException}; a caller already interrupted when
 *       it calls {@code submit} too, and its item is not queued.
 *   <li>{@link #submit(Object, Duration) submit(item, timeout)} throws {@link TimeoutException}
 *       naming the batcher and the timeout when the item has no result within the timeout, whether
 *       it was still queued or its batch was running.
 *   <li>{@link #submitAsync} returns a future; cancelling it gives up. Its own timeouts ({@link
 *       CompletableFuture#orTimeout orTimeout}) complete it without withdrawing the item.
 * </ul>
 *
 * {@snippet class="io.github.forwardcontext.snippets.BatchingSnippets" region="giving-up"}
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
 * Registered in the {@linkplain BatchSizeTracker#registry() tracker's registry}, each with the
 * {@linkplain BatchSizeTracker#tags() tracker's tags} (a stage's batcher is told apart from another
 * stage's as its passes are) and tagged {@value #NAME_TAG} with the {@linkplain
 * Builder#name(String) batcher's name}:
 *
 * <ul>
 *   <li>{@value #QUEUE_WAIT}, a timer: per item, the time from its arrival in the queue to the
 *       start of its batch.
 *   <li>{@value #BATCHES}, a counter per batch size, tagged {@value #BATCH_SIZE_TAG} with the
 *       number of items: the distribution of the batch sizes that formed. It counts items per
 *       batch, which the {@value BatchSizeTracker#METER_NAME} timers do not when a {@linkplain
 *       Builder#context(Function) context mapping} reports another batch size (tokens, samples).
 *   <li>{@value #QUEUE_DEPTH}, a gauge: the items waiting for a batch, of every key.
 *   <li>{@value #ITEMS}, a counter per outcome, tagged {@value #OUTCOME_TAG}. Each submitted item
 *       is counted once:
 *       <ul>
 *         <li>{@code completed}: its batch returned its result. An item whose caller timed out
 *             while its batch ran is counted when the batch ends, as the batch ended ({@code
 *             completed} or {@code failed});
 *         <li>{@code failed}: its batch failed, or the key function threw for it;
 *         <li>{@code rejected}: refused by a full or closed batcher, or failed by a timed-out close
 *             or a failed dispatcher;
 *         <li>{@code cancelled}: its caller was interrupted (before or after submitting), or
 *             cancelled the future of {@link #submitAsync}, before the outcome was there;
 *         <li>{@code timed_out}: withdrawn from the queue at its {@link #submit(Object, Duration)
 *             submit} timeout; it never reached a batch.
 *       </ul>
 * </ul>
 *
 * The meters carry no compatibility-key tag: keys are unbounded, a tag per key would be a series
 * per key. A batcher registers at most {@code maxBatchSize + 7} meters, one batch-size counter per
 * size that formed. Meters are shared by name and tags, so the names of the live batchers of a
 * registry must be unique: {@link Builder#build()} rejects a name in use, and the default names are
 * unique in the JVM. When the batcher has closed and its last pass has ended (it has terminated),
 * its gauge is removed from the registry, and then its name is free again; the counters and the
 * timer stay.
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

  private final String name;
  private final int maxBatchSize;
  private final Duration maxWait;
  private final int maxQueued;
  private final boolean compatible;
  private final BatchQueue<I, O> queue;
  private final Dispatcher<I, O> dispatcher;
  private final Submissions<I, O> submissions;

  // Everything is built before the batcher, which no other object refers to until build returns.
  private DynamicBatcher(
      Builder<I, O> builder,
      BatchQueue<I, O> queue,
      Dispatcher<I, O> dispatcher,
      Submissions<I, O> submissions) {
    this.name = builder.name;
    this.maxBatchSize = builder.maxBatchSize;
    this.maxWait = builder.maxWait;
    this.maxQueued = builder.maxQueued;
    this.compatible = builder.key != null;
    this.queue = queue;
    this.dispatcher = dispatcher;
    this.submissions = submissions;
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
   *     returned a result list of the wrong size; or if the {@linkplain Builder#compatibleBy key
   *     function} threw for the item, with that exception as the cause
   * @throws RejectedExecutionException if {@code maxQueued} items are already waiting, if the
   *     batcher is closed, or if a {@linkplain #close(Duration) timed close} gave up on the item
   * @throws IllegalStateException if called from inside the forward function or a subtask of it
   *     (see "Submitting from inside a pass"), where it would wait for its own pass
   */
  public O submit(I item) throws InterruptedException, ExecutionException {
    Objects.requireNonNull(item, "item");
    try {
      return submissions.submit(item, null);
    } catch (TimeoutException impossible) { // no timeout, none to reach
      throw new AssertionError(impossible);
    }
  }

  /**
   * Queues an item and waits at most {@code timeout} for its result. If the item is still queued at
   * the timeout, it is taken out of the queue, never reaches a batch, and is counted {@code
   * timed_out}. If its batch is running at the timeout, the caller stops waiting and the batch
   * finishes for its other items; the item is counted as the batch ends.
   *
   * @param item the item
   * @param timeout how long to wait for the result; zero waits not at all (the item is withdrawn
   *     unless its batch already runs)
   * @return the result the forward function returned for this item
   * @throws InterruptedException as {@link #submit(Object)}
   * @throws ExecutionException as {@link #submit(Object)}
   * @throws TimeoutException if the item has no result within {@code timeout}; the message names
   *     the batcher, the timeout, and whether the item was withdrawn or its batch still runs
   * @throws RejectedExecutionException as {@link #submit(Object)}
   * @throws IllegalStateException as {@link #submit(Object)}
   * @throws IllegalArgumentException if {@code timeout} is negative
   */
  public O submit(I item, Duration timeout)
      throws InterruptedException, ExecutionException, TimeoutException {
    Objects.requireNonNull(item, "item");
    Objects.requireNonNull(timeout, "timeout");
    return submissions.submit(item, timeout);
  }

  /**
   * Queues an item and returns at once a future of its result. The future completes with the item's
   * result, or exceptionally with the cause a {@link #submit(Object) submit} would see in its
   * {@link ExecutionException} (or with its {@link RejectedExecutionException}, should a timed
   * close or a failed dispatcher reject the queued item). Cancelling the future while the item is
   * queued takes the item out of the queue; cancelling it while the item's batch runs drops the
   * result. Either way the item is counted {@code cancelled}. A batch's results and failures
   * complete the futures on a thread of the batcher's other than its dispatcher, so dependent
   * actions never hold up the next batch; keep them short or make them asynchronous.
   *
   * <p>Unlike {@code submit}, this may be called from inside the forward function: it does not
   * wait. The item then runs in a later batch, so the pass must not wait for the future.
   *
   * @param item the item
   * @return the future of the item's result
   * @throws RejectedExecutionException if {@code maxQueued} items are already waiting or the
   *     batcher is closed, at once, as {@link java.util.concurrent.ExecutorService#submit} does
   */
  public CompletableFuture<O> submitAsync(I item) {
    return submissions.submitAsync(Objects.requireNonNull(item, "item"));
  }

  /**
   * {@return the number of items waiting for a batch, of every key} The items of a running pass do
   * not count.
   */
  public int queued() {
    return queue.size();
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
    if (dispatcher.isInsidePass()) {
      return;
    }
    boolean interrupted = false;
    while (true) {
      try {
        dispatcher.awaitTermination();
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
   * forward function) and not waited for; if it fails with an {@link InterruptedException}, its
   * callers get one whose message names the batcher and the timeout, with the pass's own as its
   * cause. Called from inside the forward function, it closes the batcher, does not wait, and
   * returns {@code false}.
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
    if (dispatcher.isInsidePass()) {
      return false;
    }
    if (dispatcher.awaitTermination(Durations.saturatedNanos(timeout))) {
      return true;
    }
    try {
      dispatcher.rejectQueued(
          "Batcher '"
              + name
              + "' closed with a timeout of "
              + timeout
              + " before this item was batched",
          null);
    } finally {
      dispatcher.interruptPass(timeout);
    }
    return false;
  }

  @Override
  public String toString() {
    return "DynamicBatcher[name="
        + name
        + ", maxBatchSize="
        + maxBatchSize
        + ", maxWait="
        + maxWait
        + ", maxQueued="
        + maxQueued
        + (compatible ? ", compatibleBy" : "")
        + ", queued="
        + queue.size()
        + "]";
  }

  private void beginClose() {
    queue.close();
    dispatcher.wake();
  }

  /** The default context's attention metadata: the number of items. */
  private record ItemCount(int batchSize) implements AttentionMetadata {}

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
    private Function<? super I, ?> key;
    private Supplier<?> submitterContext;
    private Ticker ticker = Ticker.SYSTEM;

    private Builder(BatchSizeTracker tracker, BatchFunction<I, O> forward) {
      this.tracker = tracker;
      this.forward = forward;
    }

    /**
     * Sets the most items a batch holds; 8 by default. A full batch runs at once. Nothing is
     * allocated per possible size: a large bound costs nothing until batches that large form.
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
     * Sets how many items may wait for a batch, of all keys together; 1024 by default. When that
     * many wait, {@link DynamicBatcher#submit submit} rejects further items at once.
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

    /**
     * Lets only items with equal keys share a batch (see "Compatible batches"): the resolution and
     * frame count of a generation request, say. The key function runs once per item, on the
     * submitting thread; its keys are compared with {@link Object#equals equals} and should be
     * immutable. A {@code null} key is a key like any other. Without it, every item may share a
     * batch with any other, and {@link Batch#key()} is {@code null}. The meters carry no key tag.
     *
     * @param key maps an item to its compatibility key
     * @return this builder
     */
    public Builder<I, O> compatibleBy(Function<? super I, ?> key) {
      this.key = Objects.requireNonNull(key, "key");
      return this;
    }

    // Tests drive the dispatcher's clock and observe its timed waits.
    Builder<I, O> ticker(Ticker ticker) {
      this.ticker = Objects.requireNonNull(ticker, "ticker");
      return this;
    }

    /**
     * Captures something of each submitter's on its thread at submit, for the pass to read in
     * {@link Batch#submitterContexts()}: typically its span's trace context, for span links ({@code
     * io.github.forwardcontext.tracing.BatchLinkingTracingObservationHandler#submitterContext()}).
     * The supplier may return {@code null}; one that throws fails nothing (the item gets {@code
     * null}, the failure is logged once at {@code WARNING}, then at {@code DEBUG}), except a {@link
     * VirtualMachineError}, which the submitter gets. Without this setting nothing is captured.
     *
     * @param capture what to capture at each submit
     * @return this builder
     */
    public Builder<I, O> submitterContext(Supplier<?> capture) {
      this.submitterContext = Objects.requireNonNull(capture, "capture");
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
        name = BatcherNames.unnamed();
      }
      MeterRegistry registry = tracker.registry();
      BatcherNames.reserve(registry, name);
      try {
        BatchQueue<I, O> queue =
            new BatchQueue<>(name, maxBatchSize, maxWait.toNanos(), maxQueued, ticker);
        BatcherMetrics metrics =
            new BatcherMetrics(registry, name, tracker.tags(), queue, BatchQueue::size);
        Dispatcher<I, O> dispatcher =
            new Dispatcher<>(name, tracker, forward, context, queue, metrics, ticker);
        Submissions<I, O> submissions =
            new Submissions<>(name, key, submitterContext, ticker, queue, metrics, dispatcher);
        DynamicBatcher<I, O> batcher = new DynamicBatcher<>(this, queue, dispatcher, submissions);
        dispatcher.start();
        return batcher;
      } catch (Throwable t) {
        BatcherNames.release(registry, name);
        throw t;
      }
    }
  }
}
