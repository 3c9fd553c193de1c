package io.github.forwardcontext.structured;

import io.github.forwardcontext.internal.Forks;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * How a {@link FanOut} runs its subtasks: in a structured task scope ({@link StructuredScopes}, the
 * one class that uses the preview API) or on plain virtual threads ({@link VirtualThreads}, through
 * the library's one engine, {@link Forks}). Both keep the rules of {@link Forks}; {@link FanOut}
 * turns their outcomes into what its caller sees.
 */
interface Forking {

  /**
   * Forks one virtual thread named {@code name} per index, runs {@code subtask.forIndex(i)} in it,
   * waits for all of them and returns the results in index order, following the rules of {@link
   * Forks}: on the first failure, a passed deadline or an interrupt of the caller, the unfinished
   * subtasks are cancelled (interrupted); the method returns or throws only once every forked
   * thread has ended, and every subtask failure is recorded in {@code failures}.
   *
   * @param deadline the time the whole call may take, or {@code null} for none
   * @return the results, in index order; an unmodifiable list that may hold {@code null}
   * @throws Forks.SubtaskFailed if a subtask failed first; its cause is that subtask's failure
   * @throws Forks.DeadlinePassed if the deadline passed first
   * @throws InterruptedException if the calling thread was interrupted while it waited; its
   *     interrupt status is then set
   */
  <T> List<T> forkAll(
      String name, int count, Subtask<T> subtask, Duration deadline, Forks.Failures failures)
      throws InterruptedException;

  /**
   * The subtasks, with the fan-out's bookkeeping (permits, thread-local contexts) around the task.
   *
   * @param <T> the result type
   */
  @FunctionalInterface
  interface Subtask<T> {
    /** Called on the forking thread, once per index: what it captures is the caller's. */
    Callable<T> forIndex(int index);
  }
}
