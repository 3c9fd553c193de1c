package io.github.forwardcontext.internal;

import java.io.Serial;
import java.time.Duration;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import java.util.Queue;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;

/**
 * The library's one fork/join engine on plain virtual threads: it runs {@code FanOut}'s {@code
 * VIRTUAL_THREADS} mode and every {@code Microbatches} call. {@code FanOut}'s structured mode keeps
 * the same rules through a {@code StructuredTaskScope}, and gathers its failures in the same {@link
 * Failures}. The rules, which those classes' documentation refers to:
 *
 * <ul>
 *   <li><b>Start.</b> The calling thread starts the subtasks one by one, in index order, each in a
 *       new virtual thread of the given builder (so a numbered builder numbers them by index). It
 *       stops starting at the first failure, or if it is interrupted: the subtasks not yet started
 *       never run. Starting one by one, rather than creating every thread before starting any,
 *       means that only the calling thread owns threads, that it interrupts only threads that are
 *       alive, and that a fork after a failure does nothing, as in a structured task scope.
 *   <li><b>Join.</b> The call returns or throws only once every started thread has ended, whatever
 *       the outcome: no subtask outlives it.
 *   <li><b>First failure.</b> The first subtask to fail (or a thread that cannot start) wakes the
 *       caller, which interrupts the other started subtasks, joins them and throws {@link
 *       SubtaskFailed}, whose cause is that failure. The caller of the engine throws it as itself,
 *       with {@link Failures#rethrowFirst(SubtaskFailed)}.
 *   <li><b>Suppressed.</b> Every subtask failure is recorded in the call's {@link Failures}; what
 *       the call finally throws (the first failure, a timeout, an interruption) carries the others
 *       as suppressed exceptions, except the {@link InterruptedException}s of the other subtasks:
 *       they are taken for the cancellation, not failures of their own.
 *   <li><b>Deadline.</b> Measured from the call, converted with {@link
 *       Durations#saturatedNanos(Duration)}. When it passes first, the unfinished subtasks are
 *       interrupted and joined, and the call throws {@link DeadlinePassed}.
 *   <li><b>Interruption.</b> If the calling thread is interrupted before or while it waits, the
 *       subtasks are interrupted and joined, the calling thread's interrupt status is set again and
 *       the call throws {@link InterruptedException}. An interrupt that arrives while the caller
 *       joins after another outcome is kept as its interrupt status, and that outcome stands.
 * </ul>
 *
 * <p>The engine binds nothing: what a subtask sees (the forward context, thread-locals) is what the
 * callable it is given binds. Not a supported API; see the package description.
 */
public final class Forks {
  private Forks() {}

  /**
   * Runs {@code subtasks.apply(i)} for each index from 0 to {@code count - 1}, each in its own
   * virtual thread, and returns the results in index order, following the rules of the class
   * description. Each callable is made on the calling thread, just before its thread starts.
   *
   * @param threads the builder of the subtasks' threads, used by the calling thread only
   * @param count the number of subtasks
   * @param subtasks the subtask of each index
   * @param deadline the time the whole call may take, or {@code null} for none
   * @param failures where the subtasks' failures are recorded
   * @param <T> the result type
   * @return the results, in index order; an unmodifiable list that may hold {@code null}
   * @throws SubtaskFailed if a subtask failed first; its cause is that failure
   * @throws DeadlinePassed if the deadline passed first
   * @throws InterruptedException if the calling thread was interrupted before or while it waited;
   *     its interrupt status is then set
   */
  public static <T> List<T> forkAll(
      Thread.Builder threads,
      int count,
      IntFunction<? extends Callable<? extends T>> subtasks,
      Duration deadline,
      Failures failures)
      throws InterruptedException {
    long deadlineNanos = deadline == null ? 0 : Durations.saturatedNanos(deadline);
    long start = System.nanoTime();
    Object[] results = new Object[count];
    Thread[] started = new Thread[count];
    // Counted down by every subtask as it ends, and drained at once by the first failure.
    CountDownLatch wake = new CountDownLatch(count);
    Outcome outcome = new Outcome();

    int alive = 0;
    boolean interrupted = false;
    while (alive < count) {
      if (Thread.currentThread().isInterrupted()) {
        interrupted = true;
        break;
      }
      int index = alive;
      try {
        Callable<? extends T> call = subtasks.apply(index);
        if (outcome.first != null) {
          break; // A subtask failed meanwhile: none starts after the first failure.
        }
        started[index] =
            threads.start(
                () -> {
                  try {
                    results[index] = call.call();
                  } catch (Throwable failure) {
                    failures.record(failure);
                    outcome.failed(failure, wake);
                  } finally {
                    wake.countDown();
                  }
                });
      } catch (Throwable cannotStart) {
        failures.record(cannotStart);
        outcome.failed(cannotStart, wake);
        break;
      }
      alive++;
    }

    boolean timedOut = false;
    if (!interrupted) {
      try {
        if (deadline == null) {
          wake.await();
        } else {
          long remaining = deadlineNanos - (System.nanoTime() - start);
          timedOut = !wake.await(remaining, TimeUnit.NANOSECONDS);
        }
      } catch (InterruptedException e) {
        interrupted = true;
      }
    }
    if (interrupted || timedOut || outcome.first != null) {
      for (int i = 0; i < alive; i++) {
        started[i].interrupt();
      }
    }
    if (joinAll(started, alive) || interrupted) {
      Thread.currentThread().interrupt();
    }

    if (interrupted) {
      throw new InterruptedException();
    }
    if (timedOut) {
      throw new DeadlinePassed();
    }
    if (outcome.first != null) {
      throw new SubtaskFailed(outcome.first);
    }
    @SuppressWarnings("unchecked")
    List<T> list = (List<T>) Collections.unmodifiableList(Arrays.asList(results));
    return list;
  }

  /**
   * Joins the first {@code count} threads; {@return whether the caller was interrupted meanwhile}
   */
  private static boolean joinAll(Thread[] threads, int count) {
    boolean interrupted = false;
    for (int i = 0; i < count; i++) {
      while (true) {
        try {
          threads[i].join();
          break;
        } catch (InterruptedException e) {
          // The outcome is decided; finish the clean-up and keep the interrupt for the caller.
          interrupted = true;
        }
      }
    }
    return interrupted;
  }

  /** The first failure of one call, set once. */
  private static final class Outcome {
    volatile Throwable first;

    synchronized void failed(Throwable failure, CountDownLatch wake) {
      if (first == null) {
        first = failure;
        while (wake.getCount() > 0) {
          wake.countDown();
        }
      }
    }
  }

  /**
   * The failures of one fork/join call's subtasks, in either engine, and the one rule that attaches
   * them to what the call throws. Thread-safe.
   */
  public static final class Failures {
    private final Queue<Throwable> recorded = new ConcurrentLinkedQueue<>();

    /** Creates an empty record, for one call. */
    public Failures() {}

    /**
     * Records a subtask's failure.
     *
     * @param failure the failure
     */
    public void record(Throwable failure) {
      recorded.add(Objects.requireNonNull(failure, "failure"));
    }

    /**
     * {@return {@code subtask}, recording its failure, if any, before it propagates}
     *
     * @param subtask the subtask
     * @param <V> the result type
     */
    public <V> Callable<V> recording(Callable<V> subtask) {
      Objects.requireNonNull(subtask, "subtask");
      return () -> {
        try {
          return subtask.call();
        } catch (Throwable failure) {
          record(failure);
          throw failure;
        }
      };
    }

    /**
     * Attaches every recorded failure but {@code thrown} itself and the {@link
     * InterruptedException}s (the cancellation) to {@code thrown} as suppressed exceptions. Call it
     * once every subtask has ended, when the record is complete.
     *
     * @param thrown what the call throws
     * @param <X> its type
     * @return {@code thrown}
     */
    public <X extends Throwable> X suppressInto(X thrown) {
      for (Throwable other : recorded) {
        if (other != thrown && !(other instanceof InterruptedException)) {
          thrown.addSuppressed(other);
        }
      }
      return thrown;
    }

    /**
     * Throws the first failure as itself, never wrapped, whatever its type, with the other failures
     * suppressed in it.
     *
     * @param failed the outcome of the call
     * @return never returns; declared so that callers can write {@code throw
     *     failures.rethrowFirst(failed)}
     */
    public RuntimeException rethrowFirst(SubtaskFailed failed) {
      throw Failures.<RuntimeException>sneaky(suppressInto(failed.getCause()));
    }

    @SuppressWarnings("unchecked")
    private static <X extends Throwable> X sneaky(Throwable failure) throws X {
      throw (X) failure;
    }
  }

  /** The outcome "a subtask failed first"; the cause is its failure, whatever its type. */
  public static final class SubtaskFailed extends RuntimeException {
    @Serial private static final long serialVersionUID = 1L;

    /**
     * Creates the outcome.
     *
     * @param failure the first failure
     */
    public SubtaskFailed(Throwable failure) {
      super(null, failure, false, false);
    }
  }

  /** The outcome "the deadline passed first". */
  public static final class DeadlinePassed extends RuntimeException {
    @Serial private static final long serialVersionUID = 1L;

    /** Creates the outcome. */
    public DeadlinePassed() {
      super(null, null, false, false);
    }
  }
}
