package io.github.forwardcontext;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.micrometer.context.ContextRegistry;
import io.micrometer.context.ContextSnapshotFactory;
import io.micrometer.context.ThreadLocalAccessor;
import io.micrometer.context.integration.Slf4jThreadLocalAccessor;
import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationRegistry;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.slf4j.MDC;

/** Thread-local contexts (here the real SLF4J/Logback MDC) carried into pool tasks. */
@SuppressWarnings("try") // resources held open only for their lifetime
class ThreadLocalContextsTest implements NoContextLeftBound {

  static ThreadLocalContexts mdcOnly() {
    ContextRegistry registry =
        new ContextRegistry().registerThreadLocalAccessor(new Slf4jThreadLocalAccessor());
    return ThreadLocalContexts.using(
        ContextSnapshotFactory.builder().contextRegistry(registry).clearMissing(true).build());
  }

  private final ExecutorService pool = Executors.newSingleThreadExecutor();

  @AfterEach
  void closePoolAndClearMdc() {
    pool.shutdownNow();
    MDC.clear();
    TENANT.remove();
  }

  @Test
  void everyTaskSeesTheSubmittersMdcAndThePoolThreadHasNoneAfterEachTask() throws Exception {
    ExecutorService wrapped = mdcOnly().taskWrapping(pool);
    List<String> seen = new ArrayList<>();
    List<String> afterEach = new ArrayList<>();

    MDC.put("request.id", "r-1");
    for (int i = 0; i < 16; i++) {
      seen.add(wrapped.submit(() -> MDC.get("request.id")).get());
      // The same (single) pool thread, through the undecorated pool: what the task left behind.
      afterEach.add(pool.submit(() -> String.valueOf(MDC.getCopyOfContextMap())).get());
    }

    assertThat(seen).hasSize(16).containsOnly("r-1");
    assertThat(afterEach).hasSize(16).allSatisfy(m -> assertThat(m).isIn("null", "{}"));
  }

  @Test
  void aTaskPutsBackWhatThePoolThreadHadBefore() throws Exception {
    pool.submit(() -> MDC.put("request.id", "left-by-an-unwrapped-task")).get();
    MDC.put("request.id", "r-3");

    String seen = pool.submit(mdcOnly().wrap(() -> MDC.get("request.id"))).get();
    String after = pool.submit(() -> MDC.get("request.id")).get();

    assertThat(seen).isEqualTo("r-3");
    assertThat(after).isEqualTo("left-by-an-unwrapped-task");
  }

  /** A thread-local of the application's, carried through an accessor of its own. */
  private static final ThreadLocal<String> TENANT = new ThreadLocal<>();

  private static ThreadLocalContexts tenantNotClearingMissing() {
    ContextRegistry registry =
        new ContextRegistry()
            .registerThreadLocalAccessor(
                new ThreadLocalAccessor<String>() {
                  @Override
                  public Object key() {
                    return "tenant";
                  }

                  @Override
                  public String getValue() {
                    return TENANT.get();
                  }

                  @Override
                  public void setValue(String value) {
                    TENANT.set(value);
                  }

                  @Override
                  public void setValue() {
                    TENANT.remove();
                  }
                });
    // clearMissing(false), the builder's default: keys the submitter lacks are left untouched.
    return ThreadLocalContexts.using(
        ContextSnapshotFactory.builder().contextRegistry(registry).build());
  }

  @Test
  void withAFactoryThatKeepsMissingKeysATaskLeavesNoThreadLocalOfItsOwnOnThePoolThread()
      throws Exception {
    ThreadLocalContexts contexts = tenantNotClearingMissing();

    // Neither the submitter nor the pool thread has a tenant; the task sets one.
    pool.submit(contexts.wrap(() -> TENANT.set("set-by-the-task"))).get();
    String after = pool.submit(TENANT::get).get();

    assertThat(after).isNull();
  }

  @Test
  void withAFactoryThatKeepsMissingKeysThePoolThreadGetsBackTheValueTheTaskChanged()
      throws Exception {
    ThreadLocalContexts contexts = tenantNotClearingMissing();
    pool.submit(() -> TENANT.set("the-pool-threads-own")).get();

    String seen =
        pool.submit(
                contexts.wrap(
                    () -> {
                      String had = TENANT.get();
                      TENANT.set("changed-by-the-task");
                      return had;
                    }))
            .get();
    String after = pool.submit(TENANT::get).get();

    // Without clearMissing the task sees what the pool thread had, and must leave it so.
    assertThat(seen).isEqualTo("the-pool-threads-own");
    assertThat(after).isEqualTo("the-pool-threads-own");
  }

  @Test
  void withTheRegistryNamedATaskLeavesNoThreadLocalOfItsOwnOnThePoolThread() throws Exception {
    ContextRegistry registry =
        new ContextRegistry().registerThreadLocalAccessor(new Slf4jThreadLocalAccessor());
    // A factory whose registry no reflection could find: only the named registry tells.
    ContextSnapshotFactory built =
        ContextSnapshotFactory.builder().contextRegistry(registry).build();
    ContextSnapshotFactory opaque =
        new ContextSnapshotFactory() {
          @Override
          public io.micrometer.context.ContextSnapshot captureAll(Object... contexts) {
            return built.captureAll(contexts);
          }

          @Override
          public io.micrometer.context.ContextSnapshot captureFrom(Object... contexts) {
            return built.captureFrom(contexts);
          }

          @Override
          public <C> io.micrometer.context.ContextSnapshot.Scope setThreadLocalsFrom(
              Object sourceContext, String... keys) {
            return built.setThreadLocalsFrom(sourceContext, keys);
          }
        };
    ThreadLocalContexts contexts = ThreadLocalContexts.using(opaque, registry);

    pool.submit(contexts.wrap(() -> MDC.put("request.id", "set-by-the-task"))).get();
    String after = pool.submit(() -> MDC.get("request.id")).get();

    assertThat(after).isNull();
    assertThatThrownBy(() -> ThreadLocalContexts.using(opaque, null))
        .isInstanceOf(NullPointerException.class);
  }

  @Test
  void aFactoryTheBuilderDidNotMakeIsTakenToReadTheGlobalRegistry() {
    ContextRegistry own = new ContextRegistry();
    ContextSnapshotFactory built = ContextSnapshotFactory.builder().contextRegistry(own).build();
    ContextSnapshotFactory delegating =
        new ContextSnapshotFactory() {
          @Override
          public io.micrometer.context.ContextSnapshot captureAll(Object... contexts) {
            return built.captureAll(contexts);
          }

          @Override
          public io.micrometer.context.ContextSnapshot captureFrom(Object... contexts) {
            return built.captureFrom(contexts);
          }

          @Override
          public <C> io.micrometer.context.ContextSnapshot.Scope setThreadLocalsFrom(
              Object sourceContext, String... keys) {
            return built.setThreadLocalsFrom(sourceContext, keys);
          }
        };

    assertThat(ContextSnapshots.registryOf(built)).isSameAs(own);
    assertThat(ContextSnapshots.registryOf(delegating)).isSameAs(ContextRegistry.getInstance());
  }

  @Test
  void oneSnapshotServesManyTasksAndKeepsWhatItCaptured() throws Exception {
    ThreadLocalContexts contexts = mdcOnly();
    MDC.put("request.id", "r-4");
    ThreadLocalContexts.Snapshot snapshot =
        ForwardContext.where(11, () -> 1).call(() -> contexts.capture());
    MDC.put("request.id", "changed after the capture");

    List<Future<String>> futures = new ArrayList<>();
    for (int i = 0; i < 8; i++) {
      futures.add(
          pool.submit(
              snapshot.wrap(
                  () -> MDC.get("request.id") + "@" + ForwardContext.current().currentTimestep())));
    }

    for (Future<String> future : futures) {
      assertThat(future.get()).isEqualTo("r-4@11");
    }
  }

  @Test
  void theGlobalRegistryCarriesTheCurrentObservationByItself() throws Exception {
    ObservationRegistry observations = ObservationRegistry.create();
    observations.observationConfig().observationHandler(context -> true);
    ExecutorService wrapped = ThreadLocalContexts.fromGlobalRegistry().taskWrapping(pool);
    Observation request = Observation.start("request", observations);

    Observation seen;
    try (Observation.Scope scope = request.openScope()) {
      seen = wrapped.submit(observations::getCurrentObservation).get();
    } finally {
      request.stop();
    }
    Observation after = pool.submit(observations::getCurrentObservation).get();

    assertThat(seen).isSameAs(request);
    assertThat(after).isNull();
  }

  @Test
  void wrappedTasksCarryTheForwardContextToo() throws Exception {
    ThreadLocalContexts contexts = mdcOnly();
    MDC.put("request.id", "r-2");

    Callable<String> task =
        ForwardContext.where(7, () -> 1)
            .call(
                () ->
                    contexts.wrap(
                        () ->
                            MDC.get("request.id")
                                + "@"
                                + ForwardContext.current().currentTimestep()));
    MDC.remove("request.id");

    assertThat(pool.submit(task).get()).isEqualTo("r-2@7");
  }

  @Test
  void concurrentRequestsWithDifferentMdcNeverSeeEachOthers() throws Exception {
    ExecutorService twoThreads = Executors.newFixedThreadPool(2);
    try {
      ExecutorService wrapped = mdcOnly().taskWrapping(twoThreads);
      // Each round, one task of each request runs at once on the two threads: forced overlap.
      CyclicBarrier together = new CyclicBarrier(2);
      int rounds = 20;
      List<List<String>> seen = new ArrayList<>();
      List<Thread> requests = new ArrayList<>();
      for (String id : List.of("a", "b")) {
        List<String> mine = java.util.Collections.synchronizedList(new ArrayList<>());
        seen.add(mine);
        requests.add(
            Thread.ofVirtual()
                .start(
                    () -> {
                      MDC.put("request.id", id);
                      for (int r = 0; r < rounds; r++) {
                        try {
                          mine.add(
                              wrapped
                                  .submit(
                                      () -> {
                                        together.await(30, TimeUnit.SECONDS);
                                        return MDC.get("request.id");
                                      })
                                  .get());
                        } catch (Exception e) {
                          throw new AssertionError(e);
                        }
                      }
                    }));
      }
      for (Thread request : requests) {
        request.join();
      }

      assertThat(seen.get(0)).hasSize(rounds).containsOnly("a");
      assertThat(seen.get(1)).hasSize(rounds).containsOnly("b");
    } finally {
      twoThreads.shutdownNow();
    }
  }

  @Test
  void shutdownNowReturnsTheSubmittedFuturesSoTheyCanBeCancelled() throws Exception {
    ExecutorService wrapped = ForwardContext.taskWrapping(pool);
    CountDownLatch busy = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    wrapped.submit(
        () -> {
          busy.countDown();
          release.await();
          return null;
        });
    busy.await();
    Future<String> queued = wrapped.submit(() -> "never ran");

    List<Runnable> pending = wrapped.shutdownNow();
    release.countDown();

    assertThat(pending).containsExactly((Runnable) queued);
    for (Runnable r : pending) {
      ((Future<?>) r).cancel(false);
    }
    assertThat(queued.isCancelled()).isTrue();
  }

  @Test
  void shutdownNowOfAThreadLocalTaskWrappingPoolReturnsTheSubmittedFuturesToo() throws Exception {
    ExecutorService wrapped = mdcOnly().taskWrapping(pool);
    CountDownLatch busy = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    wrapped.execute(
        () -> {
          busy.countDown();
          try {
            release.await();
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
        });
    busy.await();
    Future<?> queued = wrapped.submit(() -> {});

    List<Runnable> pending = wrapped.shutdownNow();
    release.countDown();

    assertThat(pending).containsExactly((Runnable) queued);
  }

  @Test
  void microbatchesCarryTheCallersMdcIntoEachMicrobatchThreadAndLeaveNoneBehind() throws Exception {
    MDC.put("request.id", "r-7");
    Microbatches split = Microbatches.of(new TestMetadata(2), new TestMetadata(3));

    List<String> carried =
        ForwardContext.where(5, new TestMetadata(5))
            .call(
                () ->
                    split
                        .withThreadLocalContexts(mdcOnly())
                        .call(
                            i ->
                                MDC.get("request.id")
                                    + "/"
                                    + ForwardContext.current().attnMetadata().batchSize()));
    List<String> plain =
        ForwardContext.where(5, new TestMetadata(5))
            .call(() -> split.call(i -> String.valueOf(MDC.get("request.id"))));

    assertThat(carried).containsExactly("r-7/2", "r-7/3");
    assertThat(plain).containsExactly("null", "null");
    assertThat(MDC.get("request.id")).isEqualTo("r-7");
  }
}
