package io.github.forwardcontext.structured;

import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.Callable;
import java.util.concurrent.Semaphore;

/**
 * Runs subtasks in parallel on virtual threads under the caller's forward context, and returns
 * their results in input order. Every subtask must succeed.
 *
 * <p>Each subtask is forked in a {@link java.util.concurrent.StructuredTaskScope}, so it inherits
 * the caller's {@link io.github.forwardcontext.ForwardContext} (and every other scoped-value
 * binding), and so do the subtasks it forks in turn. A {@code FanOut} is an immutable
 * configuration: a name for the threads, an optional bound on parallelism and an optional deadline;
 * use one from any number of threads.
 *
 * {@snippet class="io.github.forwardcontext.snippets.ContextSnippets" region="fan-out"}
 *
 * <h2>Life cycle of a call</h2>
 *
 * <ul>
 *   <li>Each task runs in a new virtual thread named after the fan-out; the call returns when every
 *       task has finished, never earlier.
 *   <li>The first task to fail cancels the others (their threads are interrupted) and the call
 *       throws that task's exception itself, not wrapped. The failures of the other tasks are
 *       attached to it as {@linkplain Throwable#getSuppressed() suppressed} exceptions, except the
 *       {@link InterruptedException} with which a cancelled task ends: that is the cancellation,
 *       not a failure of its own.
 *   <li>If a deadline is set and passes first, the unfinished tasks are cancelled and the call
 *       throws {@link java.util.concurrent.TimeoutException}.
 *   <li>If the calling thread is interrupted while it waits, the tasks are cancelled and the call
 *       throws {@link InterruptedException}.
 *   <li>With a parallelism bound, at most that many tasks run their body at once; the others wait
 *       for a permit in their own (cheap, virtual) thread.
 * </ul>
 *
 * <h2>Structure rules</h2>
 *
 * The JDK enforces the nesting of scopes and bindings with {@link
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
 * NullPointerException}. This class uses a preview API of Java 25: run with {@code
 * --enable-preview}.
 */
public final class FanOut {

  /**
   * A task that computes one result from its index, as the per-head or per-block work of a layer
   * does.
   *
   * @param <T> the result type
   */
  @FunctionalInterface
  public interface IndexedTask<T> {
    /**
     * {@return the result for this index}
     *
     * @param index the task's index, from 0 to {@code count - 1}
     * @throws Exception if the task fails
     */
    T call(int index) throws Exception;
  }

  private final String name;
  private final int maxParallelism; // 0: unbounded
  private final Duration deadline; // null: none

  private FanOut(String name, int maxParallelism, Duration deadline) {
    this.name = name;
    this.maxParallelism = maxParallelism;
    this.deadline = deadline;
  }

  /**
   * {@return an unbounded fan-out without deadline whose threads are named after what they do}
   *
   * @param name what the subtasks are, such as {@code "attention-head"}: the name of their threads
   * @throws IllegalArgumentException if {@code name} is blank
   */
  public static FanOut named(String name) {
    Objects.requireNonNull(name, "name");
    if (name.isBlank()) {
      throw new IllegalArgumentException("name must not be blank but was '" + name + "'");
    }
    return new FanOut(name, 0, null);
  }

  /**
   * {@return a copy of this fan-out that runs at most {@code maxParallelism} task bodies at once}
   * Use it for CPU-bound tasks, where more threads than cores buy nothing.
   *
   * @param maxParallelism the bound
   * @throws IllegalArgumentException if {@code maxParallelism} is not positive
   */
  public FanOut withMaxParallelism(int maxParallelism) {
    if (maxParallelism <= 0) {
      throw new IllegalArgumentException(
          "maxParallelism must be positive but was " + maxParallelism);
    }
    return new FanOut(name, maxParallelism, deadline);
  }

  /**
   * {@return a copy of this fan-out that cancels its tasks and throws {@link
   * java.util.concurrent.TimeoutException} when they have not all finished within {@code deadline}}
   *
   * @param deadline the time the whole fan-out may take, measured from the call
   * @throws IllegalArgumentException if {@code deadline} is zero or negative
   */
  public FanOut withDeadline(Duration deadline) {
    Objects.requireNonNull(deadline, "deadline");
    if (deadline.isNegative() || deadline.isZero()) {
      throw new IllegalArgumentException("deadline must be positive but was " + deadline);
    }
    return new FanOut(name, maxParallelism, deadline);
  }

  /** {@return the name of this fan-out's threads} */
  public String name() {
    return name;
  }

  /**
   * Runs every task in its own virtual thread under the caller's forward context and returns their
   * results, in the order of {@code tasks}. See the class description for the life cycle.
   *
   * @param tasks the tasks; the list and its elements must not be null
   * @param <T> the result type
   * @return the results, in task order (a task may return {@code null})
   * @throws Exception the exception of the first task to fail, as itself
   * @throws java.util.concurrent.TimeoutException if the deadline passed first
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
   * under the caller's forward context, and returns the results in index order. See {@link
   * #invokeAll(List)}.
   *
   * @param count the number of tasks
   * @param task the task, called once per index
   * @param <T> the result type
   * @return the results, in index order
   * @throws Exception the exception of the first task to fail, as itself
   * @throws IllegalArgumentException if {@code count} is negative
   */
  public <T> List<T> invokeAll(int count, IndexedTask<? extends T> task) throws Exception {
    Objects.requireNonNull(task, "task");
    if (count < 0) {
      throw new IllegalArgumentException("count must be >= 0 but was " + count);
    }
    Semaphore permits =
        maxParallelism == 0 || maxParallelism >= count ? null : new Semaphore(maxParallelism);
    return StructuredScopes.forkAll(name, count, task, permits, deadline);
  }

  @Override
  public String toString() {
    return "FanOut[name="
        + name
        + (maxParallelism == 0 ? "" : ", maxParallelism=" + maxParallelism)
        + (deadline == null ? "" : ", deadline=" + deadline)
        + "]";
  }
}
