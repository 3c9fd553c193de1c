package io.github.forwardcontext.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.github.forwardcontext.NoContextLeftBound;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.IntFunction;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/** The one fork/join engine on plain virtual threads, tested directly: each rule of its javadoc. */
class ForksTest implements NoContextLeftBound {

  private static Thread.Builder threads() {
    return Thread.ofVirtual().name("fork-", 0);
  }

  private static <T> List<T> forkAll(int count, IntFunction<Callable<T>> subtasks)
      throws InterruptedException {
    return Forks.forkAll(threads(), count, subtasks, null, new Forks.Failures());
  }

  /** A subtask that waits until it is interrupted, noting its index and thread. */
  private static Callable<Integer> waitForCancel(
      int index, CountDownLatch waiting, ConcurrentLinkedQueue<Integer> cancelled) {
    return () -> {
      waiting.countDown();
      try {
        new CountDownLatch(1).await();
      } catch (InterruptedException e) {
        cancelled.add(index);
        throw e;
      }
      return index;
    };
  }

  @Nested
  class Start {
    @Test
    void theCallerMakesAndStartsTheSubtasksInIndexOrderEachInAThreadNumberedByItsIndex()
        throws Exception {
      Thread caller = Thread.currentThread();
      List<String> made = new CopyOnWriteArrayList<>();

      List<String> names =
          forkAll(
              4,
              i -> {
                made.add(i + (Thread.currentThread() == caller ? "@caller" : "@other"));
                return () -> Thread.currentThread().getName();
              });

      assertThat(made).containsExactly("0@caller", "1@caller", "2@caller", "3@caller");
      assertThat(names).containsExactly("fork-0", "fork-1", "fork-2", "fork-3");
    }

    @Test
    void noSubtaskStartsAfterTheFirstFailure() {
      IOException failure = new IOException("subtask 0 failed");
      AtomicReference<Thread> first = new AtomicReference<>();
      CountDownLatch zeroRunning = new CountDownLatch(1);
      List<Integer> made = new CopyOnWriteArrayList<>();
      List<Integer> ran = new CopyOnWriteArrayList<>();

      Throwable thrown =
          catchThrowable(
              () ->
                  forkAll(
                      4,
                      i -> {
                        made.add(i);
                        if (i == 1) {
                          // Subtask 0 has failed and ended before subtask 1 could start.
                          awaitUninterruptibly(zeroRunning);
                          joinUninterruptibly(first.get());
                        }
                        return () -> {
                          ran.add(i);
                          first.compareAndSet(null, Thread.currentThread());
                          zeroRunning.countDown();
                          throw failure;
                        };
                      }));

      assertThat(thrown).isInstanceOf(Forks.SubtaskFailed.class).hasCause(failure);
      assertThat(made).containsExactly(0, 1);
      assertThat(ran).containsExactly(0);
    }

    @Test
    void resultsComeBackInIndexOrderNullsIncludedAndNoSubtasksIsAnEmptyList() throws Exception {
      assertThat(forkAll(3, i -> () -> i == 1 ? null : i)).containsExactly(0, null, 2);
      assertThat(forkAll(0, i -> () -> i)).isEmpty();
    }
  }

  @Nested
  class FirstFailure {
    @Test
    void theFirstFailureIsTheCauseAndTheOthersAreInterruptedAndJoined() {
      IllegalStateException failure = new IllegalStateException("subtask 1 failed");
      CountDownLatch othersWaiting = new CountDownLatch(2);
      ConcurrentLinkedQueue<Integer> cancelled = new ConcurrentLinkedQueue<>();
      Set<Thread> seen = ConcurrentHashMap.newKeySet();

      Throwable thrown =
          catchThrowable(
              () ->
                  forkAll(
                      3,
                      i -> {
                        Callable<Integer> body =
                            i == 1
                                ? () -> {
                                  othersWaiting.await();
                                  throw failure;
                                }
                                : waitForCancel(i, othersWaiting, cancelled);
                        return () -> {
                          seen.add(Thread.currentThread());
                          return body.call();
                        };
                      }));

      assertThat(thrown).isInstanceOf(Forks.SubtaskFailed.class).hasCause(failure);
      assertThat(cancelled).containsExactlyInAnyOrder(0, 2);
      assertThat(seen).hasSize(3).allSatisfy(t -> assertThat(t.isAlive()).isFalse());
    }

    @Test
    void aSubtaskThatCannotBeMadeIsTheFirstFailureAndTheStartedOnesAreCancelled() {
      IllegalArgumentException cannotMake = new IllegalArgumentException("no subtask 1");
      CountDownLatch zeroWaiting = new CountDownLatch(1);
      ConcurrentLinkedQueue<Integer> cancelled = new ConcurrentLinkedQueue<>();

      Throwable thrown =
          catchThrowable(
              () ->
                  forkAll(
                      2,
                      i -> {
                        if (i == 1) {
                          awaitUninterruptibly(zeroWaiting);
                          throw cannotMake;
                        }
                        return waitForCancel(i, zeroWaiting, cancelled);
                      }));

      assertThat(thrown).isInstanceOf(Forks.SubtaskFailed.class).hasCause(cannotMake);
      assertThat(cancelled).containsExactly(0);
    }
  }

  @Nested
  class Suppressed {
    @Test
    void theOtherFailuresAreSuppressedInTheFirstButTheCancellationsInterruptedExceptions() {
      IOException first = new IOException("first");
      IllegalStateException cleanup = new IllegalStateException("cleanup after cancel failed");
      CountDownLatch othersWaiting = new CountDownLatch(2);
      ConcurrentLinkedQueue<Integer> cancelled = new ConcurrentLinkedQueue<>();
      Forks.Failures failures = new Forks.Failures();

      Throwable thrown =
          catchThrowable(
              () -> {
                try {
                  Forks.forkAll(
                      threads(),
                      3,
                      i ->
                          switch (i) {
                            case 0 ->
                                () -> {
                                  othersWaiting.await();
                                  throw first;
                                };
                            case 1 -> waitForCancel(i, othersWaiting, cancelled);
                            default ->
                                () -> {
                                  try {
                                    return waitForCancel(i, othersWaiting, cancelled).call();
                                  } catch (InterruptedException e) {
                                    throw cleanup;
                                  }
                                };
                          },
                      null,
                      failures);
                } catch (Forks.SubtaskFailed failed) {
                  throw failures.rethrowFirst(failed);
                }
              });

      assertThat(thrown).isSameAs(first);
      assertThat(first.getSuppressed()).containsExactly(cleanup);
      assertThat(cancelled).containsExactlyInAnyOrder(1, 2);
    }

    @Test
    void suppressIntoAddsEveryRecordedFailureButTheThrownItselfAndInterruptedExceptions() {
      Forks.Failures failures = new Forks.Failures();
      IOException a = new IOException("a");
      IllegalStateException b = new IllegalStateException("b");
      failures.record(a);
      failures.record(new InterruptedException("a cancellation"));
      failures.record(b);

      assertThat(failures.suppressInto(a).getSuppressed()).containsExactly(b);
      TimeoutExceptionLike timeout = failures.suppressInto(new TimeoutExceptionLike());
      assertThat(timeout.getSuppressed()).containsExactly(a, b);
    }

    @Test
    void rethrowFirstThrowsARawThrowableAsItself() {
      Throwable raw = new Throwable("neither an Exception nor an Error");
      Forks.Failures failures = new Forks.Failures();
      failures.record(raw);

      assertThatThrownBy(() -> failures.rethrowFirst(new Forks.SubtaskFailed(raw))).isSameAs(raw);
    }

    @Test
    void recordingRecordsAFailureAndLetsItThrough() {
      Forks.Failures failures = new Forks.Failures();
      IOException failure = new IOException("recorded");

      assertThatThrownBy(
              () ->
                  failures
                      .recording(
                          () -> {
                            throw failure;
                          })
                      .call())
          .isSameAs(failure);
      assertThat(failures.suppressInto(new Exception("thrown")).getSuppressed())
          .containsExactly(failure);
    }
  }

  @Nested
  class Interruption {
    @Test
    void aCallerInterruptedWhileWaitingCancelsAndJoinsTheSubtasksAndKeepsItsInterruptStatus()
        throws Exception {
      CountDownLatch waiting = new CountDownLatch(2);
      ConcurrentLinkedQueue<Integer> cancelled = new ConcurrentLinkedQueue<>();
      Set<Thread> seen = ConcurrentHashMap.newKeySet();
      AtomicReference<Throwable> thrown = new AtomicReference<>();
      AtomicBoolean interruptStatusAfter = new AtomicBoolean();

      Thread caller =
          Thread.ofVirtual()
              .start(
                  () -> {
                    try {
                      forkAll(
                          2,
                          i -> {
                            Callable<Integer> body = waitForCancel(i, waiting, cancelled);
                            return () -> {
                              seen.add(Thread.currentThread());
                              return body.call();
                            };
                          });
                    } catch (Throwable t) {
                      thrown.set(t);
                      interruptStatusAfter.set(Thread.currentThread().isInterrupted());
                    }
                  });
      waiting.await();
      caller.interrupt();
      caller.join();

      assertThat(thrown.get()).isInstanceOf(InterruptedException.class);
      assertThat(interruptStatusAfter).isTrue();
      assertThat(cancelled).containsExactlyInAnyOrder(0, 1);
      assertThat(seen).hasSize(2).allSatisfy(t -> assertThat(t.isAlive()).isFalse());
    }

    @Test
    void anInterruptedCallerStartsNoSubtaskAndKeepsItsInterruptStatus() {
      List<Integer> made = new CopyOnWriteArrayList<>();

      Thread.currentThread().interrupt();
      Throwable thrown =
          catchThrowable(
              () ->
                  forkAll(
                      2,
                      i -> {
                        made.add(i);
                        return () -> i;
                      }));
      boolean stillInterrupted = Thread.interrupted(); // and clears it for the next tests

      assertThat(thrown).isInstanceOf(InterruptedException.class);
      assertThat(stillInterrupted).isTrue();
      assertThat(made).isEmpty();
    }
  }

  @Nested
  class Deadline {
    @Test
    void aPassedDeadlineCancelsAndJoinsTheUnfinishedSubtasks() {
      CountDownLatch waiting = new CountDownLatch(1);
      ConcurrentLinkedQueue<Integer> cancelled = new ConcurrentLinkedQueue<>();
      Set<Thread> seen = ConcurrentHashMap.newKeySet();

      Throwable thrown =
          catchThrowable(
              () ->
                  Forks.forkAll(
                      threads(),
                      1,
                      i -> {
                        Callable<Integer> body = waitForCancel(i, waiting, cancelled);
                        return () -> {
                          seen.add(Thread.currentThread());
                          return body.call();
                        };
                      },
                      Duration.ofNanos(1),
                      new Forks.Failures()));

      assertThat(thrown).isInstanceOf(Forks.DeadlinePassed.class);
      assertThat(cancelled).containsExactly(0);
      assertThat(seen).allSatisfy(t -> assertThat(t.isAlive()).isFalse());
      assertThat(Thread.currentThread().isInterrupted()).isFalse();
    }

    @Test
    void aDeadlineTooLongForNanosecondsSaturatesInsteadOfPassingAtOnce() throws Exception {
      List<Integer> results =
          Forks.forkAll(
              threads(), 2, i -> () -> i, Duration.ofSeconds(Long.MAX_VALUE), new Forks.Failures());

      assertThat(results).containsExactly(0, 1);
    }
  }

  /** Any exception that a caller makes of an outcome, as FanOut makes a TimeoutException. */
  private static final class TimeoutExceptionLike extends Exception {
    private static final long serialVersionUID = 1L;
  }

  private static void joinUninterruptibly(Thread thread) {
    while (true) {
      try {
        thread.join();
        return;
      } catch (InterruptedException e) {
        // keep waiting: the test needs the thread to have ended
      }
    }
  }

  private static void awaitUninterruptibly(CountDownLatch latch) {
    while (true) {
      try {
        latch.await();
        return;
      } catch (InterruptedException e) {
        // keep waiting
      }
    }
  }
}
