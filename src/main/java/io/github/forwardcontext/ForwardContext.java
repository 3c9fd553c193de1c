package io.github.forwardcontext;

import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.function.Supplier;

/**
 * The immutable per-pass state of a model forward pass: the current timestep, the attention
 * metadata and the forward batch, readable from any depth of the call stack below the pass with
 * {@link #current()}.
 *
 * <p>Unless otherwise specified, passing {@code null} to a method of this class throws {@link
 * NullPointerException}. The {@linkplain #attnMetadata() attention metadata} and the {@linkplain
 * #forwardBatch() forward batch} of a context may be absent ({@code null}).
 *
 * <h2>Binding</h2>
 *
 * A context is bound for the duration of an operation, never set and forgotten:
 *
 * {@snippet class="io.github.forwardcontext.snippets.ContextSnippets" region="binding"}
 *
 * The binding is a {@link ScopedValue} binding: it ends when the operation returns or throws, and
 * the binding that was there before (or none) is back, untouched. Bindings nest; the innermost one
 * is what {@link #current()} returns. {@code where} only builds the context: a context binds itself
 * with {@link #run(Runnable)} and {@link #call(ScopedValue.CallableOp)}, as often as wanted. {@link
 * #whereAttnMetadata(AttentionMetadata)} gives a copy of the current context with other attention
 * metadata, for an inner block that uses another attention backend.
 *
 * <p>To time passes as well, bind through a {@link BatchSizeTracker}: {@code tracker.where(t, meta,
 * batch).run(op)} binds the same context and records the pass's duration under its batch size. A
 * context's own {@code run} and {@code call} are untracked, unless global tracking is switched on
 * at start-up (see {@link BatchSizeTracker}, "Global tracking").
 *
 * <h2>Which threads see a binding</h2>
 *
 * <ul>
 *   <li>The thread that bound it, at any depth of its call stack, until the operation ends.
 *   <li>Subtasks forked in a structured task scope ({@code java.util.concurrent}'s preview API)
 *       that was opened while the binding is in effect, and their own forks, to any depth.
 *   <li>The subtasks of {@code io.github.forwardcontext.structured.FanOut}, in either of its modes:
 *       forked in a structured task scope where the preview API is available, bound again in each
 *       plain virtual thread elsewhere.
 * </ul>
 *
 * <h2>Which threads do not</h2>
 *
 * Threads that are not structured forks inherit nothing: tasks given to a plain {@link Executor} or
 * {@link ExecutorService}, {@link java.util.concurrent.CompletableFuture} stages, and threads
 * started with {@code Thread.ofVirtual().start(...)} or {@code new Thread(...)}. For them, capture
 * the context and bind it again in the task: {@link #wrap(Runnable)}, {@link #wrap(Callable)},
 * {@link #wrapSupplier(Supplier)}, or decorate the executor with {@link
 * #taskWrapping(ExecutorService)}. Thread-locals of other libraries (the SLF4J MDC, the current
 * Micrometer {@code Observation}) travel the same way with {@link ThreadLocalContexts}.
 *
 * <p>A parallel stream is the treacherous case: the calling thread runs part of the stream itself,
 * and sees the binding there, while the common pool's workers run the rest and see none. Code that
 * works on a small input can fail on a large one. Capture the context before the stream and bind it
 * in the element function, or read what the elements need before the stream starts.
 *
 * <h2>Structure rules</h2>
 *
 * A structured task scope used inside a forward pass must respect the binding's structure, or the
 * JDK throws {@link java.util.concurrent.StructureViolationException}:
 *
 * <ul>
 *   <li>a scope opened inside a binding must be closed before the binding's operation returns;
 *   <li>{@code fork} fails if bindings were added or removed since the scope was opened: bind the
 *       context first, then open the scope inside the binding;
 *   <li>{@code close} fails if the thread's bindings changed after the scope was opened.
 * </ul>
 *
 * <h2>Per-layer metadata and microbatches</h2>
 *
 * A hybrid model runs different attention backends in different layers. Bind {@linkplain
 * AttentionMetadata#perLayer(Map) per-layer metadata}, one metadata per layer name, and each layer
 * reads its own, as its backend's type, with {@link #attnMetadata(String, Class)}:
 *
 * {@snippet class="io.github.forwardcontext.snippets.PerLayerSnippets" region="forwardContext"}
 *
 * {@snippet class="io.github.forwardcontext.snippets.PerLayerSnippets" region="layerRead"}
 *
 * Layer code written this way also runs on a model with one backend: when the metadata is not
 * per-layer, {@code attnMetadata(layerName, type)} returns it for every layer.
 *
 * <p>A pass can run as microbatches that overlap, each on its own virtual thread that sees its own
 * metadata (and batch size) through {@link #current()}, with the pass's timestep and forward batch:
 * {@link Microbatches}. Each microbatch thread holds a binding of its own, so no context is ever
 * swapped by hand. The microbatch bindings are untracked, also under global tracking: the enclosing
 * pass is timed once, unless the microbatches are {@linkplain
 * Microbatches#timedBy(BatchSizeTracker) timed} too.
 *
 * {@snippet class="io.github.forwardcontext.snippets.PerLayerSnippets" region="microbatches"}
 *
 * @param currentTimestep the diffusion timestep this pass computes (0 for passes outside the
 *     denoising loop, such as text encoding)
 * @param attnMetadata the attention metadata of this pass, or {@code null} if it has none
 * @param forwardBatch the pipeline's per-request state, or {@code null} if it has none
 */
public record ForwardContext(
    int currentTimestep, AttentionMetadata attnMetadata, ForwardBatch forwardBatch) {

  // The JDK's advice: one private key holding one immutable record. The per-thread cache is
  // small, so a key per field would evict itself; and the key is never exposed, so no caller
  // can bind something that skips the tracker's rules.
  private static final ScopedValue<ForwardContext> KEY = ScopedValue.newInstance();

  // null unless global tracking was switched on at start-up. A static final field is a constant
  // to the JIT: an untracked run() or call() pays one folded branch for it.
  private static final BatchSizeTracker GLOBAL_TRACKER = GlobalTracking.fromEnvironment();

  /**
   * {@return the forward context bound to the current thread}
   *
   * <p>This is a single scoped-value lookup, served from the thread's cache after the first read in
   * a binding: call it freely on hot paths.
   *
   * @throws IllegalStateException if no forward context is bound; the message names the current
   *     thread and, on a thread that cannot inherit a binding (a pool thread, a parallel stream's
   *     or a {@code CompletableFuture}'s worker), how to hand the context over
   */
  public static ForwardContext current() {
    try {
      return KEY.get();
    } catch (java.util.NoSuchElementException e) {
      // An exception on the unbound path costs nothing on the bound one: no isBound() probe, and
      // the message is built only here.
      throw new IllegalStateException(notSetMessage(Thread.currentThread()), e);
    }
  }

  static String notSetMessage(Thread thread) {
    String message =
        "Forward context is not set on thread '"
            + thread.getName()
            + "'. Bind one around the forward pass with "
            + "ForwardContext.where(currentTimestep, attnMetadata[, forwardBatch]).run(...) or "
            + ".call(...), or with BatchSizeTracker.where(...) to time the pass as well.";
    if (thread.isVirtual()) {
      // A virtual thread may be a structured fork, which inherits: the binding was made elsewhere.
      return message
          + " A virtual thread sees the binding only if it was forked in a StructuredTaskScope (or a"
          + " FanOut) opened inside it; a thread started by hand does not: hand the context over"
          + " with ForwardContext.wrap(task).";
    }
    return message
        + " If the pass is bound on another thread, note that this thread cannot inherit it (only"
        + " structured subtasks do; pool threads, parallel streams and CompletableFuture stages do"
        + " not): hand the context over with ForwardContext.wrap(task), wrapSupplier(supplier) or"
        + " an executor from ForwardContext.taskWrapping(executor).";
  }

  static BatchSizeTracker globalTracker() {
    return GLOBAL_TRACKER;
  }

  /** {@return {@code true} if a forward context is bound to the current thread} */
  public static boolean isBound() {
    return KEY.isBound();
  }

  /**
   * {@return the bound forward context, or an empty {@code Optional} if none is bound} It never
   * throws, which suits "bind one only if none is bound".
   */
  public static Optional<ForwardContext> find() {
    return Optional.ofNullable(orElse(null));
  }

  /**
   * {@return the bound forward context, or {@code other} if none is bound}
   *
   * @param other the context to return when none is bound; may be {@code null}
   */
  public static ForwardContext orElse(ForwardContext other) {
    // isBound() then get(): two cache hits when bound. ScopedValue.orElse would walk the bindings
    // on every call in JDK 25, because it does not consult the per-thread cache.
    return KEY.isBound() ? KEY.get() : other;
  }

  /**
   * Returns a context with this timestep and attention metadata and no forward batch, whose {@link
   * #run(Runnable) run} and {@link #call(ScopedValue.CallableOp) call} bind it: {@code
   * ForwardContext.where(t, meta).run(op)}.
   *
   * @param currentTimestep the timestep of the pass
   * @param attnMetadata the attention metadata of the pass; may be {@code null}
   * @return the context, ready to bind
   */
  public static ForwardContext where(int currentTimestep, AttentionMetadata attnMetadata) {
    return new ForwardContext(currentTimestep, attnMetadata, null);
  }

  /**
   * Returns a context with this timestep, attention metadata and forward batch, whose {@link
   * #run(Runnable) run} and {@link #call(ScopedValue.CallableOp) call} bind it: {@code
   * ForwardContext.where(t, meta, batch).call(op)}.
   *
   * @param currentTimestep the timestep of the pass
   * @param attnMetadata the attention metadata of the pass; may be {@code null}
   * @param forwardBatch the pipeline's per-request state; may be {@code null}
   * @return the context, ready to bind
   */
  public static ForwardContext where(
      int currentTimestep, AttentionMetadata attnMetadata, ForwardBatch forwardBatch) {
    return new ForwardContext(currentTimestep, attnMetadata, forwardBatch);
  }

  /**
   * Returns a copy of the current context with other attention metadata, ready to bind: the
   * timestep and the forward batch stay, the metadata is swapped for the inner block that runs
   * another attention backend.
   *
   * {@snippet class="io.github.forwardcontext.snippets.ContextSnippets" region="partial-override"}
   *
   * @param attnMetadata the metadata for the inner block; may be {@code null}
   * @return {@code current().withAttnMetadata(attnMetadata)}
   * @throws IllegalStateException if no forward context is bound
   */
  public static ForwardContext whereAttnMetadata(AttentionMetadata attnMetadata) {
    return current().withAttnMetadata(attnMetadata);
  }

  /**
   * {@return a copy of this context with other attention metadata}
   *
   * @param attnMetadata the new attention metadata; may be {@code null}
   */
  public ForwardContext withAttnMetadata(AttentionMetadata attnMetadata) {
    return new ForwardContext(currentTimestep, attnMetadata, forwardBatch);
  }

  /**
   * {@return this context's attention metadata as the backend's own type}
   *
   * @param type the metadata class the caller expects
   * @param <T> the metadata type
   * @throws IllegalStateException if this context has no attention metadata
   * @throws ClassCastException if the metadata is not an instance of {@code type}; the message
   *     names both the expected and the actual type, or, if the metadata is {@linkplain
   *     AttentionMetadata#perLayer(Map) per-layer}, says so, names some of its layers and points to
   *     {@link #attnMetadata(String, Class)}
   */
  public <T extends AttentionMetadata> T attnMetadata(Class<T> type) {
    Objects.requireNonNull(type, "type");
    AttentionMetadata metadata = attnMetadata;
    if (metadata instanceof PerLayerAttentionMetadata perLayer && !type.isInstance(metadata)) {
      throw perLayer.notOne(type);
    }
    return cast(metadata, type, "attention metadata");
  }

  /**
   * {@return this context's forward batch as the pipeline's own type}
   *
   * @param type the forward batch class the caller expects
   * @param <T> the forward batch type
   * @throws IllegalStateException if this context has no forward batch
   * @throws ClassCastException if the batch is not an instance of {@code type}; the message names
   *     both the expected and the actual type
   */
  public <T extends ForwardBatch> T forwardBatch(Class<T> type) {
    return cast(forwardBatch, type, "forward batch");
  }

  // ---------------------------------------------------------------------------------------------
  // Per-layer metadata.

  /**
   * {@return the attention metadata of one layer, as the layer's backend's own type} When this
   * context's metadata is {@linkplain AttentionMetadata#perLayer(Map) per-layer}, it is that
   * layer's entry; otherwise it is the context's one metadata, the same for every layer, so layer
   * code runs unchanged on models with one backend and on hybrid ones.
   *
   * <p>A per-layer lookup costs one hash lookup on top of {@link #current()}.
   *
   * @param layerName the layer's name, as given to {@link AttentionMetadata#perLayer(Map)}
   * @param type the metadata class the layer's backend expects
   * @param <T> the metadata type
   * @throws IllegalStateException if this context has no attention metadata, or if its metadata is
   *     per-layer and has no layer {@code layerName}; the message then names the layer and up to
   *     five of the known ones
   * @throws ClassCastException if the layer's metadata is not an instance of {@code type}; the
   *     message names both the expected and the actual type, and the layer if the metadata is
   *     per-layer
   */
  public <T extends AttentionMetadata> T attnMetadata(String layerName, Class<T> type) {
    Objects.requireNonNull(layerName, "layerName");
    Objects.requireNonNull(type, "type");
    AttentionMetadata metadata = attnMetadata;
    if (metadata instanceof PerLayerAttentionMetadata perLayer) {
      AttentionMetadata layer = perLayer.layer(layerName);
      if (type.isInstance(layer)) {
        return type.cast(layer);
      }
      // Only on failure: the message names the layer, which the hot path must not concatenate.
      return cast(layer, type, "attention metadata of layer '" + layerName + "'");
    }
    return cast(metadata, type, "attention metadata");
  }

  private <T> T cast(Object value, Class<T> type, String what) {
    Objects.requireNonNull(type, "type");
    if (value == null) {
      throw new IllegalStateException(
          "The forward context (timestep "
              + currentTimestep
              + ") has no "
              + what
              + "; expected a "
              + type.getName());
    }
    if (!type.isInstance(value)) {
      throw new ClassCastException(
          "The forward context's "
              + what
              + " is a "
              + value.getClass().getName()
              + ", not a "
              + type.getName());
    }
    return type.cast(value);
  }

  // ---------------------------------------------------------------------------------------------
  // Hand-off to threads that do not inherit scoped values.

  /**
   * Captures the current forward context and returns a task that binds it around {@code task}, for
   * threads that do not inherit the binding (plain executors, {@code CompletableFuture}, parallel
   * streams, threads started by hand).
   *
   * <p>If no context is bound when this method is called, {@code task} itself is returned: it then
   * runs with whatever the executing thread has bound, which for a pool thread is nothing. The
   * re-binding is untracked: the pass that forked the task is the one timed. A task wrapped inside
   * a tracker's {@link BatchSizeTracker#untimed(Runnable) untimed} operation is inside it too: its
   * passes of that tracker are not timed while the operation runs.
   *
   * @param task the task to run under the captured context
   * @return a task that runs {@code task} with the captured context bound
   */
  public static Runnable wrap(Runnable task) {
    Objects.requireNonNull(task, "task");
    ForwardContext captured = orElse(null);
    return Untimed.carry(captured == null ? task : () -> captured.bindRun(task));
  }

  /**
   * Captures the current forward context and returns a callable that binds it around {@code task}.
   * The result and any exception of {@code task} pass through unchanged. See {@link
   * #wrap(Runnable)} for what happens when no context is bound.
   *
   * @param task the task to run under the captured context
   * @param <V> the result type
   * @return a callable that calls {@code task} with the captured context bound
   */
  public static <V> Callable<V> wrap(Callable<V> task) {
    Objects.requireNonNull(task, "task");
    ForwardContext captured = orElse(null);
    return Untimed.carry(captured == null ? task : () -> captured.bindCall(task::call));
  }

  /**
   * Captures the current forward context and returns a supplier that binds it around {@code task},
   * as {@code CompletableFuture.supplyAsync} wants. See {@link #wrap(Runnable)} for what happens
   * when no context is bound.
   *
   * @param task the supplier to call under the captured context
   * @param <V> the result type
   * @return a supplier that calls {@code task} with the captured context bound
   */
  public static <V> Supplier<V> wrapSupplier(Supplier<V> task) {
    Objects.requireNonNull(task, "task");
    ForwardContext captured = orElse(null);
    return Untimed.carry(captured == null ? task : () -> captured.bindCall(task::get));
  }

  /**
   * Returns an executor that runs each task under the forward context of the thread that submitted
   * it. The submitter's context is captured when the task is handed over ({@code execute}); the
   * worker thread is left unbound again after each task.
   *
   * @param executor the executor that runs the tasks
   * @return the decorated executor
   */
  public static Executor taskWrapping(Executor executor) {
    Objects.requireNonNull(executor, "executor");
    if (executor instanceof ExecutorService service) {
      return taskWrapping(service);
    }
    return new ContextExecutors.ContextExecutor(executor);
  }

  /**
   * Returns an executor service that runs each task under the forward context of the thread that
   * submitted it, and delegates its life cycle ({@code shutdown}, {@code awaitTermination}, {@code
   * close}, ...) to {@code executor}. {@code shutdownNow()} returns the tasks as they were
   * submitted (for {@code submit}, the {@code Future}s), not their wrappers.
   *
   * <h4>Which {@code CompletableFuture} stages see the context</h4>
   *
   * A task sees the context of the thread that handed it to this executor, and a {@code
   * CompletableFuture} stage is handed over by whichever thread completed the stage it waits for:
   *
   * <ul>
   *   <li>{@code supplyAsync(supplier, executor)} and {@code runAsync}, called in the binding: yes;
   *   <li>a {@code *Async(fn, executor)} stage whose trigger completes on this executor, or that is
   *       added from the binding after its trigger completed: yes;
   *   <li>a stage whose trigger is completed by any other thread: no. That includes the JDK's
   *       delayer thread after {@code orTimeout} or {@code completeOnTimeout}, and {@code
   *       thenCombineAsync} or {@code applyToEitherAsync} when the other future completes on a
   *       thread without the context.
   * </ul>
   *
   * The reliable pattern: capture the work while the context is bound, with {@link
   * #wrapSupplier(Supplier)} or {@link #wrap(Callable)}, and call the captured task in the stage.
   *
   * {@snippet class="io.github.forwardcontext.snippets.HandoffSnippets" region="stages"}
   *
   * @param executor the executor service that runs the tasks
   * @return the decorated executor service
   */
  public static ExecutorService taskWrapping(ExecutorService executor) {
    Objects.requireNonNull(executor, "executor");
    return new ContextExecutors.ContextExecutorService(executor);
  }

  // ---------------------------------------------------------------------------------------------
  // Binding this context.

  /**
   * Runs {@code op} with this context bound to the current thread. The previous binding, or none,
   * is back when {@code op} returns or throws; an exception thrown by {@code op} propagates
   * unchanged. The pass is untracked, unless global tracking is on (see {@link BatchSizeTracker}).
   *
   * @param op the operation to run
   * @throws IllegalArgumentException if global tracking is on and the attention metadata reports a
   *     negative batch size (checked before {@code op} runs)
   * @throws IllegalStateException if the global-tracking start-up setting is malformed; the message
   *     names the setting and its value
   * @throws java.util.concurrent.StructureViolationException if {@code op} opened a structured task
   *     scope that it did not close
   */
  public void run(Runnable op) {
    Objects.requireNonNull(op, "op");
    BatchSizeTracker global = GLOBAL_TRACKER;
    if (global == null) {
      ScopedValue.where(KEY, this).run(op);
    } else {
      global.globalPass(this).run(op);
    }
  }

  /**
   * Calls {@code op} with this context bound to the current thread and returns its result. The
   * previous binding, or none, is back when {@code op} returns or throws; an exception thrown by
   * {@code op}, checked or not, propagates unchanged. The pass is untracked, unless global tracking
   * is on (see {@link BatchSizeTracker}).
   *
   * @param op the operation to call
   * @param <R> the result type
   * @param <E> the type of the exception {@code op} may throw
   * @return the result of {@code op}
   * @throws E if {@code op} throws it
   * @throws IllegalArgumentException if global tracking is on and the attention metadata reports a
   *     negative batch size (checked before {@code op} runs)
   * @throws IllegalStateException if the global-tracking start-up setting is malformed; the message
   *     names the setting and its value
   * @throws java.util.concurrent.StructureViolationException if {@code op} opened a structured task
   *     scope that it did not close
   */
  public <R, E extends Throwable> R call(ScopedValue.CallableOp<? extends R, E> op) throws E {
    Objects.requireNonNull(op, "op");
    BatchSizeTracker global = GLOBAL_TRACKER;
    return global == null
        ? ScopedValue.where(KEY, this).call(op)
        : global.globalPass(this).call(op);
  }

  // The tracker's way in: binds without asking the global tracker again.
  void bindRun(Runnable op) {
    ScopedValue.where(KEY, this).run(op);
  }

  <R, E extends Throwable> R bindCall(ScopedValue.CallableOp<? extends R, E> op) throws E {
    return ScopedValue.where(KEY, this).call(op);
  }
}
