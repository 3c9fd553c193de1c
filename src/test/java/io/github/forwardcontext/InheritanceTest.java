package io.github.forwardcontext;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.StructureViolationException;
import java.util.concurrent.StructuredTaskScope;
import java.util.concurrent.StructuredTaskScope.Subtask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** Which threads see a binding: structured forks do, every other way to start work does not. */
class InheritanceTest implements NoContextLeftBound {

  private static final TestMetadata META = new TestMetadata(4);

  @Test
  void structuredSubtasksInheritTheContextDownToGrandchildren() throws Exception {
    ForwardContext bound = new ForwardContext(11, META, new TestBatch("r"));

    ForwardContext grandchildSaw =
        bound.call(
            () -> {
              try (var scope = StructuredTaskScope.<ForwardContext>open()) {
                Subtask<ForwardContext> child =
                    scope.fork(
                        () -> {
                          try (var inner = StructuredTaskScope.<ForwardContext>open()) {
                            Subtask<ForwardContext> grandchild =
                                inner.fork(ForwardContext::current);
                            inner.join();
                            return grandchild.get();
                          }
                        });
                scope.join();
                return child.get();
              }
            });

    assertThat(grandchildSaw).isSameAs(bound);
  }

  @Test
  void aSubtasksRebindingIsSeenOnlyByItsOwnForks() throws Exception {
    Map<String, Integer> seen = new ConcurrentHashMap<>();
    CountDownLatch rebound = new CountDownLatch(1);
    CountDownLatch siblingRead = new CountDownLatch(1);

    ForwardContext.where(1, META)
        .call(
            () -> {
              try (var scope = StructuredTaskScope.open()) {
                scope.fork(
                    () ->
                        ForwardContext.where(2, META)
                            .call(
                                () -> {
                                  try (var inner = StructuredTaskScope.open()) {
                                    inner.fork(
                                        () ->
                                            seen.put(
                                                "grandchild",
                                                ForwardContext.current().currentTimestep()));
                                    rebound.countDown();
                                    siblingRead.await(); // the rebinding is live while B reads
                                    inner.join();
                                  }
                                  return null;
                                }));
                scope.fork(
                    () -> {
                      rebound.await();
                      seen.put("sibling", ForwardContext.current().currentTimestep());
                      siblingRead.countDown();
                      return null;
                    });
                rebound.await();
                seen.put("parent", ForwardContext.current().currentTimestep());
                scope.join();
              }
              return null;
            });

    assertThat(seen)
        .containsExactlyInAnyOrderEntriesOf(Map.of("grandchild", 2, "sibling", 1, "parent", 1));
  }

  @Test
  void threadsThatAreNotStructuredForksDoNotSeeTheBinding() throws Exception {
    ExecutorService platformPool = Executors.newSingleThreadExecutor();
    try {
      ForwardContext.where(3, META)
          .call(
              () -> {
                assertThat(platformPool.submit(ForwardContext::isBound).get()).isFalse();
                assertThat(CompletableFuture.supplyAsync(ForwardContext::isBound).get()).isFalse();

                AtomicReference<Boolean> virtualSaw = new AtomicReference<>();
                Thread.ofVirtual().start(() -> virtualSaw.set(ForwardContext.isBound())).join();
                assertThat(virtualSaw).hasValue(false);

                // Two elements that wait for each other run on two threads at once: the
                // caller's, which keeps its binding, and a common-pool worker, which has none.
                Thread caller = Thread.currentThread();
                CountDownLatch bothRunning = new CountDownLatch(2);
                Map<Boolean, Boolean> boundByOnCaller = new ConcurrentHashMap<>();
                IntStream.range(0, 2)
                    .parallel()
                    .forEach(
                        i -> {
                          bothRunning.countDown();
                          try {
                            assertThat(bothRunning.await(30, TimeUnit.SECONDS)).isTrue();
                          } catch (InterruptedException e) {
                            throw new AssertionError(e);
                          }
                          boundByOnCaller.put(
                              Thread.currentThread() == caller, ForwardContext.isBound());
                        });
                assertThat(boundByOnCaller)
                    .containsExactlyInAnyOrderEntriesOf(Map.of(true, true, false, false));
                return null;
              });
    } finally {
      platformPool.shutdownNow();
    }
  }

  @Test
  void aScopeOpenedInsideABindingAndStillOpenWhenItEndsIsAStructureViolation() {
    AtomicReference<StructuredTaskScope<Object, Void>> leaked = new AtomicReference<>();

    assertThatThrownBy(
            () -> ForwardContext.where(1, META).run(() -> leaked.set(StructuredTaskScope.open())))
        .isInstanceOf(StructureViolationException.class);
    // The JDK closed the leaked scope when it detected the violation.
    assertThat(leaked.get()).isNotNull();
  }

  @Test
  void forkingFromABindingMadeAfterTheScopeOpenedIsAStructureViolation() throws Exception {
    try (var scope = StructuredTaskScope.open()) {
      assertThatThrownBy(
              () -> ForwardContext.where(1, META).run(() -> scope.fork(() -> "never runs")))
          .isInstanceOf(StructureViolationException.class);
      scope.join();
    }
  }
}
