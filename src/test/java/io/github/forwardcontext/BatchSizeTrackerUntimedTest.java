package io.github.forwardcontext;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.forwardcontext.structured.FanOut;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationHandler;
import io.micrometer.observation.ObservationRegistry;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** {@link BatchSizeTracker#untimed}: warm-up passes are bound but not timed, and only those. */
class BatchSizeTrackerUntimedTest implements NoContextLeftBound {
  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  private final FakeClock clock = new FakeClock();
  private final BatchSizeTracker tracker =
      BatchSizeTracker.builder(registry).clock(clock).tags("stage", "denoise").build();

  private long count(String stage) {
    Timer timer = registry.find("forward.pass").tag("stage", stage).timer();
    return timer == null ? 0 : timer.count();
  }

  private long statsCount() {
    return tracker.stats().stream().mapToLong(BatchSizeStats::count).sum();
  }

  private int pass(BatchSizeTracker t, int timestep) {
    return t.where(timestep, new TestMetadata(8))
        .call(
            () -> {
              clock.advanceMillis(5);
              return ForwardContext.current().currentTimestep();
            });
  }

  @Test
  void passesInsideAreBoundButRecordNothingAndTimingResumesAfter() {
    int seen = tracker.untimed(() -> pass(tracker, 7) + pass(tracker, 7));

    assertThat(seen).isEqualTo(14); // ForwardContext.current() worked inside
    assertThat(count("denoise")).isZero();
    assertThat(tracker.stats()).isEmpty();

    pass(tracker, 1);
    pass(tracker, 2);
    assertThat(count("denoise")).isEqualTo(2);
    assertThat(statsCount()).isEqualTo(2);
  }

  @Test
  void theRunnableFormAndNestingWork() {
    tracker.untimed(
        () -> {
          tracker.untimed(() -> pass(tracker, 1));
          pass(tracker, 2); // still inside the outer scope
        });
    assertThat(count("denoise")).isZero();
    pass(tracker, 3);
    assertThat(count("denoise")).isEqualTo(1);
  }

  @Test
  void otherTrackersStillTime() {
    BatchSizeTracker encoder =
        BatchSizeTracker.builder(registry).clock(clock).tags("stage", "encode").build();
    tracker.untimed(
        () -> {
          pass(encoder, 0);
          pass(tracker, 0);
        });
    assertThat(count("encode")).isEqualTo(1);
    assertThat(count("denoise")).isZero();
  }

  @Test
  void passesOnOtherThreadsStillTime() throws Exception {
    CountDownLatch inside = new CountDownLatch(1);
    CountDownLatch otherDone = new CountDownLatch(1);
    Thread untimedCaller =
        Thread.ofVirtual()
            .start(
                () ->
                    tracker.untimed(
                        () -> {
                          inside.countDown();
                          try {
                            otherDone.await();
                          } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                          }
                        }));
    inside.await();
    Thread other = Thread.ofVirtual().start(() -> pass(tracker, 0)); // not forked inside op
    other.join();
    otherDone.countDown();
    untimedCaller.join();

    assertThat(count("denoise")).isEqualTo(1);
  }

  @ParameterizedTest
  @EnumSource(FanOut.Mode.class)
  void subtasksForkedInsideAreInsideToo(FanOut.Mode mode) throws Exception {
    assumeTrue(
        mode != FanOut.Mode.STRUCTURED || FanOut.structuredUnavailabilityCause().isEmpty(),
        "this runtime offers the fallback mode only");
    FanOut fanOut = FanOut.named("warmup").withMode(mode);
    List<Integer> seen =
        tracker.untimed(
            () ->
                tracker
                    .where(5, new TestMetadata(8))
                    .call(() -> fanOut.invokeAll(4, i -> pass(tracker, i))));

    assertThat(seen).containsExactly(0, 1, 2, 3);
    assertThat(count("denoise")).isZero();
    assertThat(tracker.stats()).isEmpty();
  }

  @Test
  void aTaskHandedOverInsideIsInsideWhileTheOperationRunsAndTimedAfter() throws Exception {
    try (ExecutorService pool = Executors.newSingleThreadExecutor()) {
      List<Runnable> handedOver = new ArrayList<>();
      tracker.untimed(
          () -> {
            Runnable task = ForwardContext.wrap((Runnable) () -> pass(tracker, 0));
            handedOver.add(task);
            try {
              pool.submit(task).get(); // runs while the operation runs
            } catch (Exception e) {
              throw new AssertionError(e);
            }
          });
      assertThat(count("denoise")).isZero();

      Future<?> late = pool.submit(handedOver.getFirst()); // after the operation returned
      late.get();
      assertThat(count("denoise")).isEqualTo(1);
    }
  }

  @Test
  void theHookAndTheObservationDoNotRunInside() {
    AtomicInteger hooks = new AtomicInteger();
    AtomicInteger observations = new AtomicInteger();
    ObservationRegistry observationRegistry = ObservationRegistry.create();
    observationRegistry
        .observationConfig()
        .observationHandler(
            new ObservationHandler<>() {
              @Override
              public void onStart(Observation.Context context) {
                observations.incrementAndGet();
              }

              @Override
              public boolean supportsContext(Observation.Context context) {
                return true;
              }
            });
    BatchSizeTracker decorated =
        BatchSizeTracker.builder(registry)
            .clock(clock)
            .tags("stage", "decode")
            .beforeClockStops(c -> hooks.incrementAndGet())
            .observationRegistry(observationRegistry)
            .build();

    decorated.untimed(() -> pass(decorated, 0));
    assertThat(hooks).hasValue(0);
    assertThat(observations).hasValue(0);
    assertThat(count("decode")).isZero();

    pass(decorated, 0);
    assertThat(hooks).hasValue(1);
    assertThat(observations).hasValue(1);
    assertThat(count("decode")).isEqualTo(1);
  }

  @Test
  void theOperationsExceptionPropagatesUnchangedAndTimingResumes() {
    IOException failure = new IOException("graph capture failed");
    assertThatThrownBy(
            () ->
                tracker.untimed(
                    () -> {
                      pass(tracker, 0);
                      throw failure;
                    }))
        .isSameAs(failure);
    assertThat(count("denoise")).isZero();

    pass(tracker, 0);
    assertThat(count("denoise")).isEqualTo(1);
  }

  @Test
  void nullIsRefused() {
    assertThatThrownBy(() -> tracker.untimed((Runnable) null))
        .isInstanceOf(NullPointerException.class);
    assertThatThrownBy(
            () -> tracker.untimed((ScopedValue.CallableOp<Object, RuntimeException>) null))
        .isInstanceOf(NullPointerException.class);
  }

  @Test
  void microbatchesSplitInsideAreInsideToo() throws Exception {
    Microbatches micro =
        Microbatches.of(List.of(new TestMetadata(3), new TestMetadata(5))).timedBy(tracker);
    List<Integer> seen =
        tracker.untimed(
            () ->
                tracker
                    .where(0, new TestMetadata(8))
                    .call(
                        () ->
                            micro.call(i -> ForwardContext.current().attnMetadata().batchSize())));

    assertThat(seen).containsExactly(3, 5);
    assertThat(tracker.stats()).isEmpty();
    assertThat(count("denoise")).isZero();
  }

  @Test
  void threadLocalContextsHandOffsInsideAreInsideToo() throws Exception {
    ThreadLocalContexts contexts = ThreadLocalContextsTest.mdcOnly();
    try (ExecutorService pool = Executors.newSingleThreadExecutor()) {
      tracker.untimed(
          () -> {
            try {
              pool.submit(contexts.wrap((Runnable) () -> pass(tracker, 0))).get();
              pool.submit(contexts.capture().wrap((Runnable) () -> pass(tracker, 0))).get();
            } catch (Exception e) {
              throw new AssertionError(e);
            }
          });
    }
    assertThat(count("denoise")).isZero();
    assertThat(tracker.stats()).isEmpty();
  }
}
