package io.github.forwardcontext.structured;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;

import io.github.forwardcontext.AttentionMetadata;
import io.github.forwardcontext.ForwardContext;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.BrokenBarrierException;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class FanOutTest {

  private static final AttentionMetadata META = () -> 8;

  @AfterEach
  void noContextLeftBound() {
    assertThat(ForwardContext.isBound()).as("context left bound after the test").isFalse();
  }

  @Test
  void resultsComeBackInInputOrderWhateverOrderTheTasksFinishIn() throws Exception {
    int n = 8;
    CountDownLatch[] finished = new CountDownLatch[n + 1];
    Arrays.setAll(finished, i -> new CountDownLatch(1));
    finished[n].countDown();
    List<Integer> completionOrder = new java.util.concurrent.CopyOnWriteArrayList<>();

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
  void threadNamesSayWhatTheSubtasksAre() throws Exception {
    List<String> names =
        FanOut.named("attention-head").invokeAll(3, i -> Thread.currentThread().getName());

    assertThat(names).containsExactly("attention-head", "attention-head", "attention-head");
    assertThat(FanOut.named("attention-head").invokeAll(1, i -> Thread.currentThread().isVirtual()))
        .containsExactly(true);
  }

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
  }

  @Test
  void anExpiredDeadlineCancelsTheTasksAndSaysSo() {
    CountDownLatch never = new CountDownLatch(1);
    AtomicBoolean interrupted = new AtomicBoolean();

    assertThatThrownBy(
            () ->
                FanOut.named("slow-block")
                    .withDeadline(Duration.ofMillis(500))
                    .invokeAll(
                        2,
                        i -> {
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
  }

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
            .invokeAll(
                48,
                i -> {
                  highWater.accumulateAndGet(running.incrementAndGet(), Math::max);
                  try {
                    groupOfThree.await(30, TimeUnit.SECONDS);
                  } catch (BrokenBarrierException e) {
                    throw new AssertionError(e);
                  } finally {
                    running.decrementAndGet();
                  }
                  return i;
                });

    assertThat(results).hasSize(48).startsWith(0, 1, 2).endsWith(47);
    assertThat(highWater).hasValue(limit);
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
