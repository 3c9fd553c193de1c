package io.github.forwardcontext.structured;

import io.github.forwardcontext.ThreadLocalContexts;
import io.github.forwardcontext.internal.Forks;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeoutException;

/**
 * Runs subtasks in parallel on virtual threads under the caller's forward context, and returns
 * their results in input order. Every subtask must succeed.
 *
 * {@snippet class="io.github.forwardcontext.snippets.FanOutSnippets" region="heads"}
 *
 * <p>A {@code FanOut} is an immutable configuration: a name for the threads, a {@linkplain Mode
 * mode}, an optional bound on parallelism and an optional deadline. Use one from any number of
 * threads.
 *
 * <h2>Modes: what the subtasks inherit</h2>
 *
 * {@code FanOut} works on every Java 25 or later runtime, in one of two {@linkplain Mode modes}:
 *
 * <ul>
 *   <li>{@link Mode#STRUCTURED}: each subtask is forked in a {@code
 *       java.util.concurrent.StructuredTaskScope}, and inherits <em>every</em> scoped-value binding
 *       of the caller: the {@link io.github.forwardcontext.ForwardContext} and any other {@link
 *       ScopedValue}. That class is a preview API of Java 25, so this mode is available on a JDK 25
 *       run with {@code --enable-preview}, and nowhere else (a preview class file loads only on the
 *       JDK release that compiled it).
 *   <li>{@link Mode#VIRTUAL_THREADS}: each subtask runs in a plain virtual thread, and the caller's
 *       forward context is bound again in it. It inherits <em>only</em> the forward context: a
 *       subtask that reads another scoped value of the caller finds it unbound.
 * </ul>
 *
 * The class chooses once, when it initialises, by trying to load its structured implementation:
 * {@link #defaultMode()} is the result, and {@link #structuredUnavailabilityCause()} keeps what the
 * JVM threw when that failed. A fan-out made by {@link #named(String)} runs in the default mode.
 * Code that needs the structured mode, because its subtasks read other scoped values, asks for it
 * with {@link #withMode(Mode) withMode(Mode.STRUCTURED)}, which fails when the fan-out is
 * configured, typically at start-up, and not inside a request:
 *
 * {@snippet class="io.github.forwardcontext.snippets.FanOutSnippets" region="demand"}
 *
 * <p>Both modes keep the same contract, described below, and use the same thread names. Neither
 * carries thread-locals (SLF4J MDC, the OpenTelemetry context, the current Micrometer {@code
 * Observation}): a fan-out made by {@link #withThreadLocalContexts(ThreadLocalContexts)} does. Only
 * the values of the caller's {@link InheritableThreadLocal}s reach the subtasks, as they reach
 * every new thread.
 *
 * <h2>Life cycle of a call</h2>
 *
 * <ul>
 *   <li>Each task runs in a new virtual thread named after the fan-out; the call returns when every
 *       task's thread has ended, never earlier, whatever the outcome.
 *   <li>The first task to fail cancels the others (their threads are interrupted, and tasks not yet
 *       started do not run), and the call throws that task's failure itself: see "Failures".
 *   <li>If a deadline is set and passes first, the unfinished tasks are cancelled and the call
 *       throws a {@link TimeoutException} that names the fan-out, its size and the deadline.
 *   <li>If the calling thread is interrupted while it waits, the tasks are cancelled and the call
 *       throws {@link InterruptedException}, with the calling thread's interrupt status set again,
 *       so that the code above it sees the interrupt too.
 * </ul>
 *
 * Both modes follow one set of rules, kept with the library's internal fork engine ({@code Forks}),
 * which also runs the {@code VIRTUAL_THREADS} mode and {@link
 * io.github.forwardcontext.Microbatches}. In that mode the tasks start one by one, in index order,
 * and none starts after the first failure; in the structured mode the scope forks every task first,
 * and a task forked after the scope was cancelled does not run.
 *
 * <h2>Failures</h2>
 *
 * <ul>
 *   <li>A failure is thrown as itself, never wrapped, whatever its type: an exception of the task's
 *       type {@code E}, an unchecked exception, an {@link Error}, and also a checked exception or a
 *       raw {@link Throwable} that a task threw without declaring it.
 *   <li>The failures of the other tasks are attached to it as {@linkplain Throwable#getSuppressed()
 *       suppressed} exceptions, except the {@link InterruptedException}s with which cancelled tasks
 *       end: they are the cancellation, not failures of their own.
 *   <li>An {@link InterruptedException} that a task throws on its own, while nothing cancelled it,
 *       is that task's failure and is thrown as itself too. The caller tells it apart from its own
 *       interruption by its interrupt status: {@link Thread#isInterrupted()} is {@code false} after
 *       a task's {@code InterruptedException}, {@code true} after the caller was interrupted.
 * </ul>
 *
 * <h2>Parallelism</h2>
 *
 * {@link #withMaxParallelism(int)} bounds the fan-out it returns, across every call: at most that
 * many task bodies run at once among all the threads that call it (and the fan-outs derived from it
 * by {@code withDeadline} and {@code withMode}, which share the bound). One shared instance per
 * kind of CPU-bound work is thus a process-wide bound. Tasks over the bound wait for a permit in
 * their own (cheap, virtual) thread; the deadline counts that wait.
 *
 * <p>A task of a bounded fan-out that calls a {@code FanOut} (this one, or any other) lends its
 * permit while it waits for that call's subtasks, and takes a permit again before it goes on, so
 * the bound still holds. Nested calls through a bounded fan-out therefore do not deadlock as long
 * as every thread in between waits in a {@code FanOut} call. A task that waits for other threads in
 * any other way (a {@link io.github.forwardcontext.Microbatches} call, its own {@code
 * StructuredTaskScope}, a {@code Future}) keeps its permit while it waits: if those threads call
 * the same bounded fan-out while such waiting tasks hold all its permits, they wait for a permit
 * forever, or until the deadline passes.
 *
 * <p>A task interrupted while it waits to take a permit back (cancelled, because a sibling failed
 * or a deadline passed) stops waiting at once: the nested call throws {@link InterruptedException}
 * and the task, which then holds no permit, ends with that cancellation. A task that catches it and
 * goes on computing runs outside the bound.
 *
 * <h2>Structure rules</h2>
 *
 * In the structured mode, the JDK enforces the nesting of scopes and bindings with {@link
 * java.util.concurrent.StructureViolationException}:
 *
 * <ul>
 *   <li>a scope opened inside a binding must be closed before the binding ends: {@code FanOut}
 *       always closes its scope before it returns;
 *   <li>{@code fork} fails if the calling thread's bindings changed since the scope was opened, so
 *       a task must not be forked from inside a binding made after the scope opened: {@code FanOut}
 *       forks from the thread and binding that called it;
 *   <li>{@code close} fails if bindings were added after the scope was opened.
 * </ul>
 *
 * <p>Unless otherwise specified, passing {@code null} to a method of this class throws {@link
 * NullPointerException}.
 */
public final class FanOut {

  /**
   * How a fan-out runs its subtasks, and so what they inherit from the caller. See the class
   * description, "Modes".
   */
  public enum Mode {
    /**
     * In a structured task scope: the subtasks inherit every scoped value of the caller. Available
     * on JDK 25 with {@code --enable-preview} only.
     */
    STRUCTURED,
    /**
     * On plain virtual threads with the caller's forward context bound again in each: the subtasks
     * inherit the forward context and no other scoped value. Available on every Java 25+ runtime.
     */
    VIRTUAL_THREADS
  }

  /**
   * A task that computes one result from its index, as the per-head or per-block work of a layer
   * does.
   *
   * @param <T> the result type
   * @param <E> the checked exception the task may throw; a task that throws none gets {@link
   *     RuntimeException} inferred, and its caller need not handle any
   */
  @FunctionalInterface
  public interface IndexedTask<T, E extends Exception> {
    /**
     * {@return the result for this index}
     *
     * @param index the task's index, from 0 to {@code count - 1}
     * @throws E if the task fails
     */
    T call(int index) throws E;
  }

  private static final String STRUCTURED_CLASS =
      "io.github.forwardcontext.structured.StructuredScopes";
  private static final Forking STRUCTURED_FORKING;
  private static final Throwable STRUCTURED_UNAVAILABLE;

  static {
    // Loading the class by name keeps the preview class out of FanOut's own constant pool: a JVM
    // that refuses it (UnsupportedClassVersionError: "Preview features are not enabled", or
    // "compiled with preview features that are unsupported" on another JDK) refuses it here, once.
    Forking structured = null;
    Throwable cause = null;
    try {
      structured =
          (Forking)
              Class.forName(STRUCTURED_CLASS, true, FanOut.class.getClassLoader())
                  .getDeclaredConstructor()
                  .newInstance();
    } catch (LinkageError | ReflectiveOperationException | RuntimeException e) {
      cause = e;
    }
    STRUCTURED_FORKING = structured;
    STRUCTURED_UNAVAILABLE = cause;
  }

  private final String name;
  private final Mode mode;
  private final Permits permits; // null: unbounded
  private final Duration deadline; // null: none
  private final ThreadLocalContexts threadLocalContexts; // null: none carried

  private FanOut(
      String name,
      Mode mode,
      Permits permits,
      Duration deadline,
      ThreadLocalContexts threadLocalContexts) {
    this.name = name;
    this.mode = mode;
    this.permits = permits;
    this.deadline = deadline;
    this.threadLocalContexts = threadLocalContexts;
  }

  /**
   * {@return the mode of the fan-outs made by {@link #named(String)}}: {@link Mode#STRUCTURED} if
   * this runtime can load the structured implementation, {@link Mode#VIRTUAL_THREADS} otherwise.
   * The choice is made once, when this class initialises.
   */
  public static Mode defaultMode() {
    return STRUCTURED_FORKING != null ? Mode.STRUCTURED : Mode.VIRTUAL_THREADS;
  }

  /**
   * {@return why the structured mode is unavailable on this runtime: what the JVM threw when this
   * class tried to load its structured implementation, or empty if the structured mode is
   * available}
   */
  public static Optional<Throwable> structuredUnavailabilityCause() {
    return Optional.ofNullable(STRUCTURED_UNAVAILABLE);
  }

  /**
   * {@return a fan-out in the {@linkplain #defaultMode() default mode}, unbounded and without
   * deadline, whose threads are named after what they do}
   *
   * @param name what the subtasks are, such as {@code "attention-head"}: the name of their threads
   * @throws IllegalArgumentException if {@code name} is blank
   */
  public static FanOut named(String name) {
    Objects.requireNonNull(name, "name");
    if (name.isBlank()) {
      throw new IllegalArgumentException("name must not be blank but was '" + name + "'");
    }
    return new FanOut(name, defaultMode(), null, null, null);
  }

  /**
   * {@return a copy of this fan-out that runs in {@code mode}}, sharing its parallelism bound.
   * {@link Mode#VIRTUAL_THREADS} is always available: use it to run the same code path on every
   * runtime, or to compare the two modes. {@link Mode#STRUCTURED} is available on JDK 25 with
   * {@code --enable-preview} only.
   *
   * @param mode the mode
   * @throws UnsupportedOperationException if {@code mode} is {@link Mode#STRUCTURED} and this
   *     runtime cannot run it; the message names the runtime version and {@code --enable-preview},
   *     and the cause is {@linkplain #structuredUnavailabilityCause() what the JVM threw}
   */
  public FanOut withMode(Mode mode) {
    Objects.requireNonNull(mode, "mode");
    if (mode == Mode.STRUCTURED && STRUCTURED_FORKING == null) {
      throw new UnsupportedOperationException(
          "FanOut '"
              + name
              + "' needs the structured mode, which this runtime (Java "
              + Runtime.version()
              + ") cannot run: it needs JDK 25 started with --enable-preview, because"
              + " StructuredTaskScope is a preview API of Java 25. Without it, FanOut runs on"
              + " plain virtual threads, where subtasks inherit the forward context only",
          STRUCTURED_UNAVAILABLE);
    }
    return new FanOut(name, mode, permits, deadline, threadLocalContexts);
  }

  /**
   * {@return a copy of this fan-out whose task bodies, over all its calls from all threads, run at
   * most {@code maxParallelism} at once} Use it for CPU-bound tasks, where more threads than cores
   * buy nothing. The returned fan-out has a bound of its own, shared with the copies made from it;
   * see the class description, "Parallelism".
   *
   * @param maxParallelism the bound
   * @throws IllegalArgumentException if {@code maxParallelism} is not positive
   */
  public FanOut withMaxParallelism(int maxParallelism) {
    if (maxParallelism <= 0) {
      throw new IllegalArgumentException(
          "maxParallelism must be positive but was " + maxParallelism);
    }
    return new FanOut(name, mode, new Permits(maxParallelism), deadline, threadLocalContexts);
  }

  /**
   * {@return a copy of this fan-out that cancels its tasks and throws {@link TimeoutException} when
   * they have not all finished within {@code deadline}}, sharing its parallelism bound.
   *
   * @param deadline the time the whole fan-out may take, measured from the call
   * @throws IllegalArgumentException if {@code deadline} is zero or negative
   */
  public FanOut withDeadline(Duration deadline) {
    Objects.requireNonNull(deadline, "deadline");
    if (deadline.isNegative() || deadline.isZero()) {
      throw new IllegalArgumentException("deadline must be positive but was " + deadline);
    }
    return new FanOut(name, mode, permits, deadline, threadLocalContexts);
  }

  /**
   * {@return a copy of this fan-out whose subtasks also carry the caller's thread-local contexts}
   * (those that {@code contexts} carries: the SLF4J MDC, the current Micrometer {@code Observation}
   * and its span, ...), captured once per call on the calling thread, restored around each subtask
   * and cleared after it. The copy shares this fan-out's parallelism bound.
   *
   * {@snippet class="io.github.forwardcontext.snippets.ThreadLocalContextsSnippets" region="fanOut"
   * }
   *
   * @param contexts which thread-local contexts to carry, and how
   */
  public FanOut withThreadLocalContexts(ThreadLocalContexts contexts) {
    Objects.requireNonNull(contexts, "contexts");
    return new FanOut(name, mode, permits, deadline, contexts);
  }

  /** {@return the name of this fan-out's threads} */
  public String name() {
    return name;
  }

  /** {@return the mode this fan-out runs its subtasks in} */
  public Mode mode() {
    return mode;
  }

  /**
   * Runs every task in its own virtual thread under the caller's forward context and returns their
   * results, in the order of {@code tasks}. See the class description for the life cycle and the
   * failures. A {@link Callable} may throw any exception, hence {@code throws Exception}: the
   * {@link #invokeAll(int, IndexedTask)} form declares only what its task declares.
   *
   * @param tasks the tasks; the list and its elements must not be null
   * @param <T> the result type
   * @return the results, in task order, as an unmodifiable list (a task may return {@code null})
   * @throws Exception the failure of the first task to fail, as itself
   * @throws TimeoutException if the deadline passed first
   * @throws InterruptedException if the calling thread was interrupted while waiting
   */
  public <T> List<T> invokeAll(List<? extends Callable<? extends T>> tasks) throws Exception {
    Objects.requireNonNull(tasks, "tasks");
    for (int i = 0; i < tasks.size(); i++) {
      Objects.requireNonNull(tasks.get(i), "tasks[" + i + "]");
    }
    return invokeAll(tasks.size(), i -> tasks.get(i).call());
  }

  /**
   * Runs {@code task} for each index from 0 to {@code count - 1}, each in its own virtual thread
   * under the caller's forward context, and returns the results in index order. See the class
   * description for the life cycle and the failures.
   *
   * <p>The caller handles what the task declares and nothing more: with a task that throws no
   * checked exception, {@code E} is inferred as {@link RuntimeException}, and only {@link
   * InterruptedException} and {@link TimeoutException} remain, which every blocking call with a
   * deadline has.
   *
   * @param count the number of tasks
   * @param task the task, called once per index
   * @param <T> the result type
   * @param <E> the checked exception the task may throw
   * @return the results, in index order, as an unmodifiable list (a task may return {@code null})
   * @throws E the failure of the first task to fail, as itself
   * @throws TimeoutException if the deadline passed first
   * @throws InterruptedException if the calling thread was interrupted while waiting
   * @throws IllegalArgumentException if {@code count} is negative
   */
  public <T, E extends Exception> List<T> invokeAll(int count, IndexedTask<? extends T, E> task)
      throws E, InterruptedException, TimeoutException {
    Objects.requireNonNull(task, "task");
    if (count < 0) {
      throw new IllegalArgumentException("count must be >= 0 but was " + count);
    }
    // The calling thread waits in fork: a permit it holds, of any bounded fan-out, is lent
    // meanwhile.
    Permits.Lease lent = Permits.lendIfHeld();
    if (lent == null) {
      return fork(count, task);
    }
    List<T> results;
    try {
      results = fork(count, task);
    } catch (Throwable outcome) {
      lent.takeBack(outcome);
      throw outcome;
    }
    lent.takeBack(null);
    return results;
  }

  private <T, E extends Exception> List<T> fork(int count, IndexedTask<? extends T, E> task)
      throws E, InterruptedException, TimeoutException {
    Forking forking = mode == Mode.STRUCTURED ? STRUCTURED_FORKING : VirtualThreads.INSTANCE;
    Forks.Failures failures = new Forks.Failures();
    Permits bound = permits;
    // One capture for the whole call: every subtask is forked by this thread, now.
    ThreadLocalContexts.Snapshot contexts =
        threadLocalContexts == null ? null : threadLocalContexts.capture();
    Forking.Subtask<T> subtask =
        index -> {
          Callable<T> body =
              () -> bound == null ? task.call(index) : bound.callHolding(task, index);
          return contexts == null ? body : contexts.wrap(body);
        };
    try {
      return forking.forkAll(name, count, subtask, deadline, failures);
    } catch (Forks.SubtaskFailed failed) {
      // Every subtask has ended: the record of failures is complete.
      throw failures.rethrowFirst(failed);
    } catch (Forks.DeadlinePassed passed) {
      throw failures.suppressInto(
          new TimeoutException(
              "fan-out '"
                  + name
                  + "' of "
                  + count
                  + " subtasks did not finish within its deadline of "
                  + deadline
                  + "; the unfinished subtasks were cancelled"));
    } catch (InterruptedException callerInterrupted) {
      // The engine has set the calling thread's interrupt status again.
      throw failures.suppressInto(
          new InterruptedException(
              "fan-out '" + name + "' was interrupted while waiting; its subtasks were cancelled"));
    }
  }

  @Override
  public String toString() {
    return "FanOut[name="
        + name
        + ", mode="
        + mode
        + (permits == null ? "" : ", maxParallelism=" + permits.max)
        + (deadline == null ? "" : ", deadline=" + deadline)
        + (threadLocalContexts == null ? "" : ", threadLocalContexts")
        + "]";
  }
}
