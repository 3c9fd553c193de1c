package io.github.forwardcontext.structured;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Semaphore;
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
   * Forks one virtual thread per index, all named {@code name}, runs {@code task} for each index
   * (holding a permit of {@code permits}, if given, while the task body runs), waits for all and
   * returns the results in index order.
   *
   * @param permits bounds how many task bodies run at once, or {@code null} for no bound
   * @param deadline the timeout, or {@code null} for none
   * @throws Exception the first task failure itself, with the other tasks' failures attached as
   *     suppressed (the InterruptedExceptions of cancelled tasks are left out); a {@link
   *     TimeoutException} when the deadline passes first
   */
  static <T> List<T> forkAll(
      String name,
      int count,
      FanOut.IndexedTask<? extends T> task,
      Semaphore permits,
      Duration deadline)
      throws Exception {
    Queue<Throwable> failures = new ConcurrentLinkedQueue<>();
    ThreadFactory threads = Thread.ofVirtual().name(name).factory();
    try (var scope =
        StructuredTaskScope.open(
            Joiner.<T>allSuccessfulOrThrow(),
            config -> {
              var c = config.withName(name).withThreadFactory(threads);
              return deadline == null ? c : c.withTimeout(deadline);
            })) {
      for (int i = 0; i < count; i++) {
        int index = i;
        scope.fork(
            () -> {
              try {
                if (permits == null) {
                  return task.call(index);
                }
                permits.acquire();
                try {
                  return task.call(index);
                } finally {
                  permits.release();
                }
              } catch (Throwable failure) {
                failures.add(failure);
                throw failure;
              }
            });
      }
      List<T> results = new ArrayList<>(count);
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
                  + count
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
