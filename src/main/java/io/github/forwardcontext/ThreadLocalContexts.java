package io.github.forwardcontext;

import io.micrometer.context.ContextRegistry;
import io.micrometer.context.ContextSnapshotFactory;
import java.util.Objects;
import java.util.concurrent.Callable;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;

/**
 * Carries the submitter's thread-local contexts (SLF4J MDC, the current Micrometer {@code
 * Observation} and its tracing span, ...) into tasks, together with the forward context, through
 * Micrometer's context-propagation library.
 *
 * <p>The forward context is a scoped value: structured subtasks inherit it, and {@link
 * ForwardContext#wrap(Runnable)} binds it again elsewhere. Thread-local contexts are not inherited
 * at all. A {@code ThreadLocalContexts} captures them, with a {@code ContextSnapshotFactory}, on
 * the thread that submits a task, restores them around the task on the thread that runs it, and
 * puts back what that thread had before when the task ends, so a pool thread keeps nothing of the
 * task. {@link #fromGlobalRegistry()} also clears, for the task, the contexts the submitter did not
 * have; with {@link #using(ContextSnapshotFactory)} that is the factory's {@code clearMissing}
 * setting.
 *
 * {@snippet class="io.github.forwardcontext.snippets.ThreadLocalContextsSnippets" region="setup"}
 *
 * <h2>Which contexts</h2>
 *
 * Those whose {@code ThreadLocalAccessor} is in the factory's {@code ContextRegistry}. The global
 * registry finds Micrometer's current {@code Observation} by itself (micrometer-observation
 * registers its accessor), and with Micrometer Tracing the observation's span is made current again
 * with it, so spans opened in the task are its children. Any other thread-local needs an accessor
 * registered by the application: for the MDC, context-propagation's {@code
 * Slf4jThreadLocalAccessor}.
 *
 * <h2>An optional dependency</h2>
 *
 * {@code io.micrometer:context-propagation} is an optional dependency of this library: add it to
 * use this class. Without it, {@link #fromGlobalRegistry()} throws {@link IllegalStateException}
 * naming the dependency, when the application configures it, not inside a request; the rest of the
 * library never loads it.
 *
 * <p>Use it with {@link #wrap(Runnable)}, {@link #wrap(Callable)}, {@link
 * #taskWrapping(ExecutorService)}, {@link #capture()} for many tasks at once, and {@code
 * FanOut.withThreadLocalContexts(..)} for fan-out subtasks. Unless otherwise specified, passing
 * {@code null} to a method of this class throws {@link NullPointerException}.
 */
public final class ThreadLocalContexts {

  /**
   * Captures on the submitting thread, restores around the task. Implemented apart, so that its
   * snapshot type (context-propagation's) appears in no signature here.
   */
  interface Capture {
    Object capture();

    Runnable wrap(Object captured, Runnable task);

    <V> Callable<V> wrap(Object captured, Callable<V> task);
  }

  static final String COORDINATES = "io.micrometer:context-propagation";
  private static final String FACTORY_CLASS = "io.micrometer.context.ContextSnapshotFactory";

  private final Capture capture;

  private ThreadLocalContexts(Capture capture) {
    this.capture = capture;
  }

  /**
   * {@return thread-local propagation through context-propagation's global {@code
   * ContextRegistry}}, which clears on the executing thread the contexts that the submitter did not
   * have.
   *
   * @throws IllegalStateException if {@code io.micrometer:context-propagation} is not on the class
   *     path or module path
   */
  public static ThreadLocalContexts fromGlobalRegistry() {
    requireLibrary();
    return new ThreadLocalContexts(ContextSnapshots.ofGlobalRegistry());
  }

  /**
   * {@return thread-local propagation through {@code factory}}, for a registry or settings of the
   * application's choice.
   *
   * <p>Whatever the factory's {@code clearMissing} setting, the thread that runs a task gets back,
   * when the task ends, the value it had of every thread-local of the factory's {@code
   * ContextRegistry}: also one that the submitter did not have and the task set or changed. (With
   * {@code clearMissing(false)}, the builder's default, the task starts with the running thread's
   * own values of those keys.) context-propagation does not say which registry a factory reads: the
   * registry of a factory made by its builder is found by reflection, which works on the class
   * path; any other factory, or one whose registry cannot be read (context-propagation on the
   * module path, which does not open it), is taken to read the global registry. {@link
   * #using(ContextSnapshotFactory, ContextRegistry)} names the registry and needs no reflection.
   *
   * @param factory the factory that captures the snapshots
   */
  @SuppressWarnings("exports") // context-propagation is optional: its users require it themselves
  public static ThreadLocalContexts using(ContextSnapshotFactory factory) {
    Objects.requireNonNull(factory, "factory");
    return new ThreadLocalContexts(ContextSnapshots.of(factory));
  }

  /**
   * {@return thread-local propagation through {@code factory}, which reads {@code registry}}, as
   * {@link #using(ContextSnapshotFactory)} does, with the registry named: the thread that runs a
   * task gets back, when the task ends, the value it had of every thread-local of {@code registry}.
   *
   * @param factory the factory that captures the snapshots
   * @param registry the registry the factory reads (the one given to its builder)
   */
  @SuppressWarnings("exports") // context-propagation is optional: its users require it themselves
  public static ThreadLocalContexts using(
      ContextSnapshotFactory factory, ContextRegistry registry) {
    Objects.requireNonNull(factory, "factory");
    Objects.requireNonNull(registry, "registry");
    return new ThreadLocalContexts(ContextSnapshots.of(factory, registry));
  }

  private static void requireLibrary() {
    try {
      Class.forName(FACTORY_CLASS, false, ThreadLocalContexts.class.getClassLoader());
    } catch (ClassNotFoundException | LinkageError missing) {
      throw new IllegalStateException(
          "Propagating thread-local contexts needs the optional dependency "
              + COORDINATES
              + " (1.2.1 or later) on the class path or module path, but "
              + FACTORY_CLASS
              + " is missing: add the dependency "
              + COORDINATES,
          missing);
    }
  }

  /**
   * {@return the current thread's thread-local contexts and forward context, captured now, to hand
   * to any number of tasks}
   */
  public Snapshot capture() {
    return new Snapshot(capture, capture.capture(), ForwardContext.orElse(null));
  }

  /**
   * Captures the current thread-local contexts and forward context and returns a task that restores
   * both around {@code task}. The thread that runs it is left as it was when the task ends.
   *
   * @param task the task
   * @return the task with the captured contexts
   */
  public Runnable wrap(Runnable task) {
    return capture().wrap(task);
  }

  /**
   * Captures the current thread-local contexts and forward context and returns a callable that
   * restores both around {@code task}. The result and any exception pass through unchanged.
   *
   * @param task the task
   * @param <V> the result type
   * @return the callable with the captured contexts
   */
  public <V> Callable<V> wrap(Callable<V> task) {
    return capture().wrap(task);
  }

  /**
   * {@return an executor service that runs each task under the thread-local contexts and forward
   * context of the thread that submitted it} It behaves as {@link
   * ForwardContext#taskWrapping(ExecutorService)} does, including which {@code CompletableFuture}
   * stages see the contexts.
   *
   * @param executor the executor service that runs the tasks
   */
  public ExecutorService taskWrapping(ExecutorService executor) {
    Objects.requireNonNull(executor, "executor");
    return new ContextExecutors.ContextExecutorService(
        executor, this::wrap, "ThreadLocalContexts.taskWrapping");
  }

  /**
   * {@return an executor that runs each task under the thread-local contexts and forward context of
   * the thread that submitted it}
   *
   * @param executor the executor that runs the tasks
   */
  public Executor taskWrapping(Executor executor) {
    Objects.requireNonNull(executor, "executor");
    if (executor instanceof ExecutorService service) {
      return taskWrapping(service);
    }
    return new ContextExecutors.ContextExecutor(executor, this::wrap);
  }

  @Override
  public String toString() {
    return "ThreadLocalContexts[" + capture + "]";
  }

  /**
   * The thread-local contexts and forward context of one thread at one moment, restored around each
   * task it wraps: capture once, hand to many tasks, as a fan-out does. The forward context is
   * bound again untracked, as {@link ForwardContext#wrap(Runnable)} binds it.
   */
  public static final class Snapshot {
    private final Capture capture;
    private final Object captured;
    private final ForwardContext forwardContext; // null: none was bound

    private Snapshot(Capture capture, Object captured, ForwardContext forwardContext) {
      this.capture = capture;
      this.captured = captured;
      this.forwardContext = forwardContext;
    }

    /**
     * {@return a task that runs {@code task} with this snapshot's contexts restored} The thread
     * that runs it is left as it was when the task ends.
     *
     * @param task the task
     */
    public Runnable wrap(Runnable task) {
      Objects.requireNonNull(task, "task");
      ForwardContext bound = forwardContext;
      Runnable restored = capture.wrap(captured, bound == null ? task : () -> bound.bindRun(task));
      return Untimed.carry(restored);
    }

    /**
     * {@return a callable that calls {@code task} with this snapshot's contexts restored} The
     * result and any exception pass through unchanged.
     *
     * @param task the task
     * @param <V> the result type
     */
    public <V> Callable<V> wrap(Callable<V> task) {
      Objects.requireNonNull(task, "task");
      ForwardContext bound = forwardContext;
      Callable<V> restored =
          capture.wrap(captured, bound == null ? task : () -> bound.bindCall(task::call));
      return Untimed.carry(restored);
    }
  }
}
