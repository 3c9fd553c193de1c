package io.github.forwardcontext.structured;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.StructuredTaskScope;
import java.util.concurrent.StructuredTaskScope.Joiner;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeoutException;

/**
 * The only code that touches the structured concurrency preview API. It changed between JDK 25 and
 * 26 (joiner names and result types); porting the library to a new release should touch this file
 * alone.
 */
final class StructuredScopes {
  private StructuredScopes() {}

  /**
   * Forks one virtual thread per task, named {@code name-0}, {@code name-1}, ..., waits for all and
   * returns their results in task order.
   *
   * @param deadline the timeout, or {@code null} for none
   * @throws Exception the first task failure itself, with the other tasks' failures attached as
   *     suppressed (the InterruptedExceptions of cancelled tasks are left out); a {@link
   *     TimeoutException} when the deadline passes first
   */
  static <T> List<T> forkAll(
      String name, List<? extends Callable<? extends T>> tasks, Duration deadline)
      throws Exception {
    Queue<Throwable> failures = new ConcurrentLinkedQueue<>();
    ThreadFactory threads = Thread.ofVirtual().name(name + "-", 0).factory();
    try (var scope =
        StructuredTaskScope.open(
            Joiner.<T>allSuccessfulOrThrow(),
            config -> {
              var c = config.withName(name).withThreadFactory(threads);
              return deadline == null ? c : c.withTimeout(deadline);
            })) {
      for (Callable<? extends T> task : tasks) {
        scope.fork(
            () -> {
              try {
                return task.call();
              } catch (Throwable failure) {
                failures.add(failure);
                throw failure;
              }
            });
      }
      List<T> results = new ArrayList<>(tasks.size());
      scope.join().forEach(subtask -> results.add(subtask.get()));
      return results;
    } catch (StructuredTaskScope.FailedException e) {
      // The scope is closed here: every subtask has finished, so the queue is complete.
      Throwable first = e.getCause();
      for (Throwable later : failures) {
        if (later != first && !(later instanceof InterruptedException)) {
          first.addSuppressed(later);
        }
      }
      throw rethrowable(first);
    } catch (StructuredTaskScope.TimeoutException e) {
      TimeoutException timeout =
          new TimeoutException(
              "fan-out '"
                  + name
                  + "' of "
                  + tasks.size()
                  + " subtasks did not finish within its deadline of "
                  + deadline
                  + "; the unfinished subtasks were cancelled");
      timeout.initCause(e);
      throw timeout;
    }
  }

  private static Exception rethrowable(Throwable failure) {
    if (failure instanceof Exception exception) {
      return exception;
    }
    if (failure instanceof Error error) {
      throw error;
    }
    return new ExecutionException(failure);
  }
}
