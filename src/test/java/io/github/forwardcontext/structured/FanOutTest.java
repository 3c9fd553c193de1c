package io.github.forwardcontext.structured;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.github.forwardcontext.AttentionMetadata;
import io.github.forwardcontext.ForwardContext;
import io.github.forwardcontext.Microbatches;
import io.github.forwardcontext.NoContextLeftBound;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.BrokenBarrierException;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/**
 * The contract of {@link FanOut}, the same in both modes. {@code ./mvnw verify} runs this class
 * twice: in the preview JVM (structured mode) and in a JVM without {@code --enable-preview} (the
 * virtual-thread mode, the path of every runtime that cannot load the preview class); each run
 * first checks that it tests the mode it was started for.
 */
class FanOutTest implements NoContextLeftBound {

  private static final AttentionMetadata META = () -> 8;

  /** The mode this JVM must run in: set by each Surefire execution, or derived from the flags. */
  static FanOut.Mode expectedMode() {
    String declared = System.getProperty("forwardcontext.fanout.expectedMode");
    if (declared != null) {
      return FanOut.Mode.valueOf(declared);
    }
    boolean preview =
        ManagementFactory.getRuntimeMXBean().getInputArguments().contains("--enable-preview");
    return preview && Runtime.version().feature() == 25
        ? FanOut.Mode.STRUCTURED
        : FanOut.Mode.VIRTUAL_THREADS;
  }

  @Test
  void theFanOutsUnderTestRunInTheModeThisJvmWasStartedFor() {
    assertThat(FanOut.defaultMode()).isEqualTo(expectedMode());
    assertThat(FanOut.named("any").mode()).isEqualTo(expectedMode());
  }

  /** Results in input order; the subtasks under the caller's forward context, in named threads. */
  @Nested
  class ResultsAndContext {
    @Test
    void resultsComeBackInInputOrderWhateverOrderTheTasksFinishIn() throws Exception {
      int n = 8;
      CountDownLatch[] finished = new CountDownLatch[n + 1];
      Arrays.setAll(finished, i -> new CountDownLatch(1));
      finished[n].countDown();
      List<Integer> completionOrder = new CopyOnWriteArrayList<>();

      // Task i finishes only after task i + 1: the tasks finish in reverse order.
      List<Integer> results =
          FanOut.named("reverse")
              .invokeAll(
                  n,
                  i -> {
                    finished[i + 1].await();
                    completionOrder.add(i);
                    finished[i].countDown();
                    return i * 10;
                  });

      assertThat(completionOrder).containsExactly(7, 6, 5, 4, 3, 2, 1, 0);
      assertThat(results).containsExactly(0, 10, 20, 30, 40, 50, 60, 70);
    }

    @Test
    void subtasksAndTheirForksSeeTheCallersContext() throws Exception {
      FanOut fanOut = FanOut.named("layer");

      List<List<Integer>> seen =
          ForwardContext.where(17, META)
              .call(
                  () ->
                      fanOut.invokeAll(
                          3,
                          child ->
                              fanOut.invokeAll(
                                  2, grandchild -> ForwardContext.current().currentTimestep())));

      assertThat(seen).hasSize(3).allSatisfy(row -> assertThat(row).containsExactly(17, 17));
    }

    @Test
    void aSubtaskThatBindsAnotherContextFansOutUnderIt() throws Exception {
      FanOut fanOut = FanOut.named("rebind");

      List<List<Integer>> seen =
          ForwardContext.where(1, META)
              .call(
                  () ->
                      fanOut.invokeAll(
                          2,
                          child ->
                              ForwardContext.where(100 + child, META)
                                  .call(
                                      () ->
                                          fanOut.invokeAll(
                                              2,
                                              g -> ForwardContext.current().currentTimestep()))));

      assertThat(seen).containsExactly(List.of(100, 100), List.of(101, 101));
    }

    @Test
    void threadNamesSayWhatTheSubtasksAre() throws Exception {
      List<String> names =
          FanOut.named("attention-head").invokeAll(3, i -> Thread.currentThread().getName());

      assertThat(names).containsExactly("attention-head", "attention-head", "attention-head");
      assertThat(
              FanOut.named("attention-head").invokeAll(1, i -> Thread.currentThread().isVirtual()))
          .containsExactly(true);
    }
  }

  /** No subtask thread outlives a call, whatever its outcome. */
  @Nested
  class LifeCycle {
    @Test
    void noSubtaskThreadIsAliveWhenTheCallReturns() throws Exception {
      List<Thread> threads = new CopyOnWriteArrayList<>();

      ForwardContext.where(5, META)
          .call(
              () ->
                  FanOut.named("short-lived")
                      .invokeAll(
                          16,
                          i -> {
                            threads.add(Thread.currentThread());
                            return ForwardContext.current().currentTimestep();
                          }));

      assertThat(threads).hasSize(16).noneMatch(Thread::isAlive);
    }

    @Test
    void noSubtaskThreadIsAliveWhenTheCallFails() {
      List<Thread> threads = new CopyOnWriteArrayList<>();
      CountDownLatch othersStarted = new CountDownLatch(3);
      CountDownLatch never = new CountDownLatch(1);

      Throwable thrown =
          catchThrowable(
              () ->
                  FanOut.named("failing")
                      .invokeAll(
                          4,
                          i -> {
                            threads.add(Thread.currentThread());
                            if (i == 0) {
                              othersStarted.await();
                              throw new IllegalStateException("head 0");
                            }
                            othersStarted.countDown();
                            return never.await(1, TimeUnit.HOURS);
                          }));

      assertThat(thrown).hasMessage("head 0");
      assertThat(threads).hasSize(4).noneMatch(Thread::isAlive);
    }
  }

  /**
   * The first failure, thrown as itself, with the others suppressed; checked exceptions as
   * declared.
   */
  @Nested
  class Failures {
    @Test
    void firstFailureIsRethrownAsItselfWithTheOtherFailuresSuppressedAndSiblingsCancelled()
        throws Exception {
      IOException first = new IOException("head 0");
      IllegalStateException second = new IllegalStateException("head 1");
      CyclicBarrier failTogether = new CyclicBarrier(2);
      CountDownLatch never = new CountDownLatch(1);
      CountDownLatch siblingWaiting = new CountDownLatch(1);
      AtomicBoolean siblingInterrupted = new AtomicBoolean();
      List<Callable<String>> tasks =
          List.of(
              () -> {
                siblingWaiting.await();
                failTogether.await();
                throw first;
              },
              () -> {
                siblingWaiting.await();
                failTogether.await();
                throw second;
              },
              () -> {
                try {
                  siblingWaiting.countDown();
                  never.await(); // only cancellation ends this task
                  return "unreachable";
                } catch (InterruptedException e) {
                  siblingInterrupted.set(true);
                  throw e;
                }
              });

      Throwable thrown =
          ForwardContext.where(3, META)
              .call(
                  () -> {
                    ForwardContext outer = ForwardContext.current();
                    Throwable t = catchThrowable(() -> FanOut.named("heads").invokeAll(tasks));
                    assertThat(ForwardContext.current()).isSameAs(outer);
                    return t;
                  });

      assertThat(thrown).isIn(first, second);
      Throwable other = thrown == first ? second : first;
      assertThat(thrown.getSuppressed()).containsExactly(other);
      assertThat(siblingInterrupted).isTrue();
      assertThat(Thread.currentThread().isInterrupted()).isFalse();
    }

    @Test
    void anErrorIsThrownAsItself() {
      AssertionError error = new AssertionError("head 2");

      Throwable thrown =
          catchThrowable(
              () ->
                  FanOut.named("errors")
                      .invokeAll(
                          1,
                          i -> {
                            throw error;
                          }));

      assertThat(thrown).isSameAs(error);
    }

    @Test
    void aRawThrowableThrownWithoutBeingDeclaredIsThrownAsItselfNotWrapped() {
      Throwable raw = new Throwable("neither Exception nor Error");

      Throwable thrown =
          catchThrowable(
              () -> FanOut.named("raw").invokeAll(2, i -> i == 0 ? sneakyThrow(raw) : "fine"));

      assertThat(thrown).isSameAs(raw);
    }

    @Test
    void aTasksOwnInterruptedExceptionIsThrownAsItselfAndLeavesTheCallerNotInterrupted() {
      InterruptedException own = new InterruptedException("the task's own");

      Throwable thrown =
          catchThrowable(
              () ->
                  FanOut.named("own-interrupt")
                      .invokeAll(
                          1,
                          i -> {
                            throw own;
                          }));

      assertThat(thrown).isSameAs(own);
      assertThat(Thread.currentThread().isInterrupted()).isFalse();
    }

    @Test
    void aTaskThatThrowsNoCheckedExceptionLeavesItsCallerFreeOfThrowsException() throws Exception {
      assertThat(squares(FanOut.named("squares"), 4)).containsExactly(0, 1, 4, 9);
    }

    // Compiles only because the task throws no checked exception: E is inferred as
    // RuntimeException.
    private static List<Integer> squares(FanOut fanOut, int n)
        throws InterruptedException, TimeoutException {
      return fanOut.invokeAll(n, i -> i * i);
    }
  }

  /** The caller's interrupt and the deadline cancel the subtasks. */
  @Nested
  class Cancellation {
    @Test
    void interruptingTheCallerCancelsTheSubtasksAndKeepsTheCallersInterruptStatus()
        throws Exception {
      CountDownLatch allWaiting = new CountDownLatch(3);
      CountDownLatch never = new CountDownLatch(1);
      AtomicInteger cancelled = new AtomicInteger();
      List<Thread> threads = new CopyOnWriteArrayList<>();
      AtomicReference<Throwable> thrown = new AtomicReference<>();
      AtomicBoolean interruptStatus = new AtomicBoolean();

      Thread caller =
          Thread.ofVirtual()
              .start(
                  () -> {
                    thrown.set(
                        catchThrowable(
                            () ->
                                FanOut.named("interrupted")
                                    .invokeAll(
                                        3,
                                        i -> {
                                          threads.add(Thread.currentThread());
                                          allWaiting.countDown();
                                          try {
                                            return never.await(1, TimeUnit.HOURS);
                                          } catch (InterruptedException e) {
                                            cancelled.incrementAndGet();
                                            throw e;
                                          }
                                        })));
                    interruptStatus.set(Thread.currentThread().isInterrupted());
                  });
      allWaiting.await();
      caller.interrupt();
      caller.join();

      assertThat(thrown.get())
          .isInstanceOf(InterruptedException.class)
          .hasMessageContaining("interrupted")
          .hasNoSuppressedExceptions();
      assertThat(interruptStatus).isTrue();
      assertThat(cancelled).hasValue(3);
      assertThat(threads).hasSize(3).noneMatch(Thread::isAlive);
    }

    @Test
    void anExpiredDeadlineCancelsTheTasksAndSaysSo() {
      CountDownLatch never = new CountDownLatch(1);
      AtomicBoolean interrupted = new AtomicBoolean();
      List<Thread> threads = new CopyOnWriteArrayList<>();

      assertThatThrownBy(
              () ->
                  FanOut.named("slow-block")
                      .withDeadline(Duration.ofMillis(500))
                      .invokeAll(
                          2,
                          i -> {
                            threads.add(Thread.currentThread());
                            try {
                              return never.await(1, TimeUnit.HOURS);
                            } catch (InterruptedException e) {
                              interrupted.set(true);
                              throw e;
                            }
                          }))
          .isInstanceOf(TimeoutException.class)
          .hasMessageContaining("slow-block")
          .hasMessageContaining("2 subtasks")
          .hasMessageContaining("PT0.5S");
      assertThat(interrupted).isTrue();
      assertThat(threads).noneMatch(Thread::isAlive);
    }
  }

  /** The bound on parallelism, shared by every call, and its permits lent by waiting tasks. */
  @Nested
  class Parallelism {
    @Test
    void boundedParallelismNeverExceedsItsLimitAndReachesIt() throws Exception {
      int limit = 3;
      AtomicInteger running = new AtomicInteger();
      AtomicInteger highWater = new AtomicInteger();
      // Tasks leave in groups of three: the bound must let three in at once, and no more.
      CyclicBarrier groupOfThree = new CyclicBarrier(limit);

      List<Integer> results =
          FanOut.named("bounded")
              .withMaxParallelism(limit)
              .invokeAll(48, i -> enterAndWait(running, highWater, groupOfThree, i));

      assertThat(results).hasSize(48).startsWith(0, 1, 2).endsWith(47);
      assertThat(highWater).hasValue(limit);
    }

    @Test
    void theBoundIsSharedByEveryCallOfTheInstanceFromEveryThread() throws Exception {
      FanOut shared = FanOut.named("shared-bound").withMaxParallelism(2);
      AtomicInteger running = new AtomicInteger();
      AtomicInteger highWater = new AtomicInteger();
      CyclicBarrier pairs = new CyclicBarrier(2);

      // Four requests at once, four tasks each: per call, 8 bodies could run together.
      List<Integer> sums =
          FanOut.named("requests")
              .invokeAll(
                  4,
                  request ->
                      shared.invokeAll(4, i -> enterAndWait(running, highWater, pairs, i)).stream()
                          .mapToInt(Integer::intValue)
                          .sum());

      assertThat(sums).containsExactly(6, 6, 6, 6);
      assertThat(highWater).hasValue(2);
    }

    @Test
    void aTaskThatFansOutAgainThroughTheSameBoundedInstanceLendsItsPermitAndDoesNotDeadlock()
        throws Exception {
      FanOut bounded = FanOut.named("nested").withMaxParallelism(2);
      // The deadline turns a deadlock into a failure instead of a hang; the copy shares the bound.
      FanOut outer = bounded.withDeadline(Duration.ofSeconds(60));
      CyclicBarrier bothOuterHoldPermits = new CyclicBarrier(2);
      AtomicInteger innerRunning = new AtomicInteger();
      AtomicInteger innerHighWater = new AtomicInteger();
      CyclicBarrier innerPairs = new CyclicBarrier(2);

      List<List<Integer>> results =
          outer.invokeAll(
              2,
              o -> {
                // Both permits are held here: the inner tasks can only run on lent permits.
                bothOuterHoldPermits.await(60, TimeUnit.SECONDS);
                return bounded.invokeAll(
                    2, i -> enterAndWait(innerRunning, innerHighWater, innerPairs, o * 10 + i));
              });

      assertThat(results).containsExactly(List.of(0, 1), List.of(10, 11));
      assertThat(innerHighWater).hasValue(2);
    }

    @Test
    void aTaskLendsItsPermitWhileItWaitsInAnotherFanOutWhoseSubtasksCallTheBoundedOneAgain()
        throws Exception {
      FanOut bounded = FanOut.named("bounded").withMaxParallelism(1);
      // The deadline turns a deadlock into a failure instead of a hang; the copy shares the bound.
      FanOut outer = bounded.withDeadline(Duration.ofSeconds(60));
      FanOut between = FanOut.named("between");
      AtomicInteger innerRunning = new AtomicInteger();
      AtomicInteger innerHighWater = new AtomicInteger();
      CyclicBarrier alone = new CyclicBarrier(1);

      // The outer task holds the only permit while it waits in 'between', whose subtasks need one.
      List<List<List<Integer>>> results =
          outer.invokeAll(
              1,
              o ->
                  between.invokeAll(
                      2,
                      b ->
                          bounded.invokeAll(
                              2,
                              i -> enterAndWait(innerRunning, innerHighWater, alone, b * 10 + i))));

      assertThat(results).containsExactly(List.of(List.of(0, 1), List.of(10, 11)));
      assertThat(innerHighWater).hasValue(1);
    }

    @Test
    void aTaskWaitingInMicrobatchesKeepsItsPermitSoTheBoundedFanOutBelowWaitsUntilItsDeadline()
        throws Exception {
      FanOut bounded = FanOut.named("bounded").withMaxParallelism(1);
      FanOut inner = bounded.withDeadline(Duration.ofMillis(100));
      AtomicBoolean innerRan = new AtomicBoolean();

      // The outer task holds the only permit and keeps it while it waits in Microbatches.
      Throwable thrown =
          catchThrowable(
              () ->
                  bounded.invokeAll(
                      1,
                      o ->
                          ForwardContext.where(0, META)
                              .call(
                                  () ->
                                      Microbatches.of(META)
                                          .call(
                                              m ->
                                                  inner.invokeAll(
                                                      1, i -> innerRan.getAndSet(true))))));

      assertThat(thrown)
          .isInstanceOf(TimeoutException.class)
          .hasMessageContaining("fan-out 'bounded' of 1 subtasks did not finish");
      assertThat(innerRan).isFalse();
    }

    @Test
    void aTaskCancelledWhileItWaitsToTakeItsPermitBackEndsAtOnceWithTheCancellation()
        throws Exception {
      FanOut bounded = FanOut.named("bounded").withMaxParallelism(1);
      FanOut between = FanOut.named("between");
      CountDownLatch otherHoldsThePermit = new CountDownLatch(1);
      CountDownLatch release = new CountDownLatch(1);
      AtomicBoolean otherFinished = new AtomicBoolean();
      AtomicReference<Thread> other = new AtomicReference<>();
      AtomicReference<Throwable> thrown = new AtomicReference<>();

      Thread caller =
          Thread.ofVirtual()
              .start(
                  () -> {
                    try {
                      bounded.invokeAll(
                          1,
                          task ->
                              between.invokeAll(
                                  1,
                                  b -> {
                                    // The task's permit is lent now: another call takes it and
                                    // keeps it, so the task cannot take it back.
                                    other.set(
                                        Thread.ofVirtual()
                                            .start(
                                                () -> {
                                                  try {
                                                    bounded.invokeAll(
                                                        1,
                                                        o -> {
                                                          otherHoldsThePermit.countDown();
                                                          return release.await(
                                                              60, TimeUnit.SECONDS);
                                                        });
                                                  } catch (Exception e) {
                                                    throw new AssertionError(e);
                                                  }
                                                  otherFinished.set(true);
                                                }));
                                    otherHoldsThePermit.await();
                                    return b;
                                  }));
                    } catch (Throwable t) {
                      thrown.set(t);
                    }
                  });
      otherHoldsThePermit.await();
      caller.interrupt();
      caller.join();

      // The caller's call ended while the other call still held the only permit.
      assertThat(otherFinished).isFalse();
      assertThat(thrown.get()).isInstanceOf(InterruptedException.class);
      release.countDown();
      other.get().join();
      assertThat(otherFinished).isTrue();
      // The permit is back in the pool: a new call gets it (the deadline turns a leak into a
      // failure).
      assertThat(bounded.withDeadline(Duration.ofSeconds(60)).invokeAll(1, i -> i))
          .containsExactly(0);
    }
  }

  /** Thread-locals, empty and null cases, bad arguments, reuse. */
  @Nested
  class Edges {
    @Test
    void aSubtaskStartsWithTheCallersInheritableThreadLocalsAndNoOtherThreadLocal()
        throws Exception {
      InheritableThreadLocal<String> inheritable = new InheritableThreadLocal<>();
      ThreadLocal<String> plain = new ThreadLocal<>();
      inheritable.set("inherited");
      plain.set("not inherited");
      try {
        assertThat(
                FanOut.named("locals")
                    .invokeAll(1, i -> Arrays.asList(inheritable.get(), plain.get())))
            .containsExactly(Arrays.asList("inherited", null));
      } finally {
        inheritable.remove();
        plain.remove();
      }
    }

    @Test
    void worksWithoutABoundContextAndWithNoTasks() throws Exception {
      assertThat(FanOut.named("free").invokeAll(2, i -> ForwardContext.isBound()))
          .containsExactly(false, false);
      assertThat(FanOut.named("none").invokeAll(new ArrayList<Callable<String>>())).isEmpty();
    }

    @Test
    void nullResultsAreKept() throws Exception {
      assertThat(FanOut.named("nulls").invokeAll(2, i -> i == 0 ? null : "x"))
          .containsExactly(null, "x");
    }

    @Test
    void badArgumentsAreRejectedNamingTheValue() {
      assertThatThrownBy(() -> FanOut.named(" "))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("name must not be blank but was ' '");
      assertThatThrownBy(() -> FanOut.named("x").withMaxParallelism(0))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("maxParallelism must be positive but was 0");
      assertThatThrownBy(() -> FanOut.named("x").withDeadline(Duration.ZERO))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("deadline must be positive but was PT0S");
      assertThatThrownBy(() -> FanOut.named("x").invokeAll(-1, i -> i))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("count must be >= 0 but was -1");
      List<Callable<Integer>> withNull = new ArrayList<>();
      withNull.add(() -> 1);
      withNull.add(null);
      assertThatThrownBy(() -> FanOut.named("x").invokeAll(withNull))
          .isInstanceOf(NullPointerException.class)
          .hasMessage("tasks[1]");
    }

    @Test
    void aFanOutIsReusableFromManyThreads() throws Exception {
      FanOut shared = FanOut.named("shared").withMaxParallelism(2);
      Set<Integer> seen = ConcurrentHashMap.newKeySet();

      List<Integer> outer =
          FanOut.named("callers")
              .invokeAll(
                  4,
                  caller ->
                      ForwardContext.where(caller, META)
                          .call(
                              () -> {
                                List<Integer> inner =
                                    shared.invokeAll(
                                        3, i -> ForwardContext.current().currentTimestep());
                                seen.addAll(inner);
                                return inner.stream().distinct().toList().size();
                              }));

      assertThat(outer).containsExactly(1, 1, 1, 1);
      assertThat(seen).containsExactlyInAnyOrder(0, 1, 2, 3);
    }
  }

  private static int enterAndWait(
      AtomicInteger running, AtomicInteger highWater, CyclicBarrier barrier, int result)
      throws InterruptedException, TimeoutException {
    highWater.accumulateAndGet(running.incrementAndGet(), Math::max);
    try {
      barrier.await(60, TimeUnit.SECONDS);
    } catch (BrokenBarrierException e) {
      throw new AssertionError(e);
    } finally {
      running.decrementAndGet();
    }
    return result;
  }

  @SuppressWarnings("unchecked")
  private static <T, X extends Throwable> T sneakyThrow(Throwable t) throws X {
    throw (X) t;
  }
}
