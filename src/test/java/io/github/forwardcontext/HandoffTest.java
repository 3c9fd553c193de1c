package io.github.forwardcontext;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Capturing the context and binding it again in threads that do not inherit it. */
class HandoffTest implements NoContextLeftBound {

  private static final TestMetadata META = new TestMetadata(8);
  private final ExecutorService pool = Executors.newFixedThreadPool(4);
  private final ExecutorService single = Executors.newSingleThreadExecutor();

  @AfterEach
  void shutDown() {
    pool.shutdownNow();
    single.shutdownNow();
  }

  @Test
  void wrappedRunnableSeesTheCapturedContextOnAnotherThread() throws Exception {
    ForwardContext bound = new ForwardContext(4, META, new TestBatch("r"));
    List<ForwardContext> seen = new CopyOnWriteArrayList<>();

    Runnable task =
        bound.call(() -> ForwardContext.wrap((Runnable) () -> seen.add(ForwardContext.current())));
    single.submit(task).get();

    assertThat(seen).containsExactly(bound);
    assertThat(single.submit(ForwardContext::isBound).get()).as("worker after the task").isFalse();
  }

  @Test
  void wrappedCallableAndSupplierPassResultsAndExceptionsThrough() throws Exception {
    IOException failure = new IOException("disk");
    Callable<Integer> timestep =
        ForwardContext.where(6, META)
            .call(() -> ForwardContext.wrap(() -> ForwardContext.current().currentTimestep()));
    Callable<Integer> failing =
        ForwardContext.where(6, META)
            .call(
                () ->
                    ForwardContext.wrap(
                        (Callable<Integer>)
                            () -> {
                              throw failure;
                            }));
    Supplier<Integer> supplier =
        ForwardContext.where(9, META)
            .call(
                () ->
                    ForwardContext.wrapSupplier(() -> ForwardContext.current().currentTimestep()));

    assertThat(single.submit(timestep).get()).isEqualTo(6);
    assertThatThrownBy(() -> single.submit(failing).get()).hasCause(failure);
    assertThat(CompletableFuture.supplyAsync(supplier, single).get()).isEqualTo(9);
  }

  @Test
  void wrappingWithNothingBoundReturnsTheTaskItselfWhichRunsUnbound() throws Exception {
    Runnable task = () -> {};
    Callable<Boolean> probe = ForwardContext::isBound;

    assertThat(ForwardContext.wrap(task)).isSameAs(task);
    assertThat(ForwardContext.wrap(probe)).isSameAs(probe);
    assertThat(single.submit(ForwardContext.wrap(probe)).get()).isFalse();
  }

  @Test
  void decoratedExecutorRunsEachTaskUnderItsSubmittersContext() throws Exception {
    ExecutorService decorated = ForwardContext.taskWrapping(single);

    Future<Integer> first =
        ForwardContext.where(1, META)
            .call(() -> decorated.submit(() -> ForwardContext.current().currentTimestep()));
    Future<Integer> second =
        ForwardContext.where(2, META)
            .call(() -> decorated.submit(() -> ForwardContext.current().currentTimestep()));
    Future<Boolean> unbound = decorated.submit(ForwardContext::isBound);

    assertThat(first.get()).isEqualTo(1);
    assertThat(second.get()).isEqualTo(2);
    assertThat(unbound.get()).as("a task submitted with nothing bound").isFalse();
    // The same worker thread, given a raw task after the wrapped ones, has nothing bound.
    assertThat(single.submit(ForwardContext::isBound).get()).isFalse();
  }

  @Test
  void tenThousandTasksFromAHundredSubmittersEachSeeTheirOwnContext() throws Exception {
    ExecutorService decorated = ForwardContext.taskWrapping(pool);
    int submitters = 100;
    int tasksEach = 100;
    CountDownLatch go = new CountDownLatch(1);
    List<String> mismatches = new CopyOnWriteArrayList<>();
    List<Thread> threads = new ArrayList<>();

    for (int s = 0; s < submitters; s++) {
      int id = s;
      threads.add(
          Thread.ofVirtual()
              .start(
                  () ->
                      ForwardContext.where(id, META, new TestBatch("req-" + id))
                          .run(
                              () -> {
                                try {
                                  go.await();
                                  List<Future<Integer>> futures = new ArrayList<>();
                                  for (int t = 0; t < tasksEach; t++) {
                                    futures.add(
                                        decorated.submit(
                                            () -> ForwardContext.current().currentTimestep()));
                                  }
                                  for (Future<Integer> f : futures) {
                                    if (f.get() != id) {
                                      mismatches.add(id + " got " + f.get());
                                    }
                                  }
                                } catch (InterruptedException | ExecutionException e) {
                                  mismatches.add(id + ": " + e);
                                }
                              })));
    }
    go.countDown();
    for (Thread thread : threads) {
      thread.join();
    }

    assertThat(mismatches).isEmpty();
    for (int i = 0; i < 8; i++) {
      assertThat(pool.submit(ForwardContext::isBound).get()).as("pool worker afterwards").isFalse();
    }
  }

  @Test
  void invokeAllThroughTheDecoratorCarriesTheContext() throws Exception {
    ExecutorService decorated = ForwardContext.taskWrapping(pool);
    List<Callable<Integer>> tasks = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      tasks.add(() -> ForwardContext.current().currentTimestep());
    }

    List<Future<Integer>> futures =
        ForwardContext.where(12, META).call(() -> decorated.invokeAll(tasks));

    for (Future<Integer> f : futures) {
      assertThat(f.get()).isEqualTo(12);
    }
  }

  @Test
  void completableFutureChainOnTheDecoratedExecutorSeesTheContextInEveryStage() throws Exception {
    Executor decorated = ForwardContext.taskWrapping((Executor) pool);
    List<Integer> stages = new CopyOnWriteArrayList<>();

    CompletableFuture<Integer> chain =
        ForwardContext.where(21, META)
            .call(
                () ->
                    CompletableFuture.supplyAsync(() -> record(stages), decorated)
                        .thenApplyAsync(x -> record(stages), decorated)
                        .thenApply(x -> record(stages))
                        .thenComposeAsync(
                            x -> CompletableFuture.supplyAsync(() -> record(stages), decorated),
                            decorated)
                        .thenCombineAsync(
                            CompletableFuture.supplyAsync(() -> record(stages), decorated),
                            (a, b) -> record(stages),
                            decorated));

    assertThat(chain.get()).isEqualTo(21);
    assertThat(stages).hasSize(6).containsOnly(21);
  }

  private static int record(List<Integer> stages) {
    int t = ForwardContext.current().currentTimestep();
    stages.add(t);
    return t;
  }

  @Test
  void decoratorDelegatesItsLifeCycle() throws Exception {
    ExecutorService inner = Executors.newSingleThreadExecutor();
    ExecutorService decorated = ForwardContext.taskWrapping(inner);

    decorated.shutdown();

    assertThat(inner.isShutdown()).isTrue();
    assertThat(decorated.isShutdown()).isTrue();
    assertThat(decorated.awaitTermination(10, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
    assertThat(decorated.isTerminated()).isTrue();
  }
}
