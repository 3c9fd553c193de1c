package io.github.forwardcontext;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

class MicrobatchesTest implements NoContextLeftBound {

  private static final TestBatch REQUEST = new TestBatch("request-1");
  private static final InheritableThreadLocal<String> INHERITABLE = new InheritableThreadLocal<>();
  private static final ThreadLocal<String> PLAIN = new ThreadLocal<>();

  /** What a microbatch saw through ForwardContext.current(). */
  record Seen(
      Thread thread,
      AttentionMetadata metadata,
      String layerLabel,
      int timestep,
      ForwardBatch batch) {}

  private static Seen see(String layer) {
    ForwardContext context = ForwardContext.current();
    return new Seen(
        Thread.currentThread(),
        context.attnMetadata(),
        context.attnMetadata(layer, TestMetadata.class).label(),
        context.currentTimestep(),
        context.forwardBatch());
  }

  /** A 48-layer model's per-layer metadata, each layer labelled with the microbatch's name. */
  private static AttentionMetadata perLayer(int batchSize, String microbatch) {
    Map<String, AttentionMetadata> layers = new LinkedHashMap<>();
    for (int i = 0; i < 48; i++) {
      layers.put("layer." + i, new TestMetadata(batchSize, microbatch + "/layer." + i));
    }
    return AttentionMetadata.perLayer(layers);
  }

  /** Each microbatch under its own metadata, results in microbatch order. */
  @Nested
  class EachMicrobatch {
    @Test
    void concurrentMicrobatchesEachSeeOnlyTheirOwnMetadataAcross1000Repetitions() throws Exception {
      TestMetadata whole = new TestMetadata(8, "whole");
      AttentionMetadata first = perLayer(3, "first");
      AttentionMetadata second = perLayer(5, "second");
      Microbatches microbatches = Microbatches.of(first, second);
      // Both microbatches read before and after the barrier: they overlap, on two live threads.
      CyclicBarrier overlap = new CyclicBarrier(2);

      for (int repetition = 0; repetition < 1000; repetition++) {
        int timestep = repetition;
        String layer = "layer." + repetition % 48;
        List<List<Seen>> seen =
            ForwardContext.where(timestep, whole, REQUEST)
                .call(
                    () ->
                        microbatches.call(
                            i -> {
                              Seen before = see(layer);
                              overlap.await(10, TimeUnit.SECONDS);
                              Seen after = see(layer);
                              return List.of(before, after);
                            }));

        for (int i = 0; i < 2; i++) {
          AttentionMetadata own = i == 0 ? first : second;
          String label = (i == 0 ? "first/" : "second/") + layer;
          assertThat(seen.get(i))
              .allSatisfy(s -> assertThat(s.metadata()).isSameAs(own))
              .allSatisfy(s -> assertThat(s.layerLabel()).isEqualTo(label))
              .allSatisfy(s -> assertThat(s.timestep()).isEqualTo(timestep))
              .allSatisfy(s -> assertThat(s.batch()).isSameAs(REQUEST));
        }
        assertThat(seen.get(0).get(0).thread())
            .isNotSameAs(seen.get(1).get(0).thread())
            .isNotSameAs(Thread.currentThread());
      }
    }

    @Test
    void eachMicrobatchReadsItsOwnPerLayerMetadataByLayerName() throws Exception {
      AttentionMetadata first =
          AttentionMetadata.perLayer(
              Map.of(
                  "layer.0",
                  new TestMetadata(2, "mb0-l0"),
                  "layer.1",
                  new TestMetadata(2, "mb0-l1")));
      AttentionMetadata second =
          AttentionMetadata.perLayer(
              Map.of(
                  "layer.0",
                  new TestMetadata(6, "mb1-l0"),
                  "layer.1",
                  new TestMetadata(6, "mb1-l1")));

      List<String> labels =
          ForwardContext.where(1, new TestMetadata(8), REQUEST)
              .call(
                  () ->
                      Microbatches.of(first, second)
                          .call(
                              i ->
                                  ForwardContext.current()
                                          .attnMetadata("layer.1", TestMetadata.class)
                                          .label()
                                      + "/"
                                      + ForwardContext.current().attnMetadata().batchSize()));

      assertThat(labels).containsExactly("mb0-l1/2", "mb1-l1/6");
    }

    @Test
    void resultsComeBackInMicrobatchOrderWhateverOrderTheyFinishIn() throws Exception {
      List<AttentionMetadata> metas = new ArrayList<>();
      for (int i = 0; i < 4; i++) {
        metas.add(new TestMetadata(i + 1));
      }
      // microbatch i finishes only after microbatch i + 1: the reverse of their order
      List<CountDownLatch> finished = new ArrayList<>();
      for (int i = 0; i < 4; i++) {
        finished.add(new CountDownLatch(1));
      }
      ConcurrentLinkedQueue<Integer> finishOrder = new ConcurrentLinkedQueue<>();

      List<Integer> results =
          ForwardContext.where(1, null)
              .call(
                  () ->
                      Microbatches.of(metas)
                          .call(
                              i -> {
                                if (i < 3) {
                                  finished.get(i + 1).await();
                                }
                                finishOrder.add(i);
                                finished.get(i).countDown();
                                return ForwardContext.current().attnMetadata().batchSize();
                              }));

      assertThat(finishOrder).containsExactly(3, 2, 1, 0);
      assertThat(results).containsExactly(1, 2, 3, 4);
    }
  }

  /** The first failure, thrown as itself, with the others suppressed; no thread outlives a call. */
  @Nested
  class Failures {
    @Test
    void theFirstFailureIsThrownAsItselfAndTheOthersAreInterrupted() throws Exception {
      IOException failure = new IOException("microbatch 1 failed");
      ConcurrentLinkedQueue<Integer> interrupted = new ConcurrentLinkedQueue<>();
      CountDownLatch othersWaiting = new CountDownLatch(2);
      CountDownLatch never = new CountDownLatch(1);

      assertThatThrownBy(
              () ->
                  ForwardContext.where(1, null)
                      .call(
                          () ->
                              Microbatches.of(
                                      new TestMetadata(1), new TestMetadata(2), new TestMetadata(3))
                                  .call(
                                      i -> {
                                        if (i == 1) {
                                          othersWaiting.await();
                                          throw failure;
                                        }
                                        othersWaiting.countDown();
                                        try {
                                          never.await();
                                        } catch (InterruptedException e) {
                                          interrupted.add(i);
                                          throw e;
                                        }
                                        return i;
                                      })))
          .isSameAs(failure);

      assertThat(failure.getSuppressed()).isEmpty();
      assertThat(interrupted).containsExactlyInAnyOrder(0, 2);
    }

    @Test
    void theOtherMicrobatchesFailuresAreSuppressedInTheFirst() throws Exception {
      IllegalStateException first = new IllegalStateException("first");
      IllegalArgumentException second = new IllegalArgumentException("cleanup after cancel failed");
      CountDownLatch waiting = new CountDownLatch(1);
      CountDownLatch never = new CountDownLatch(1);

      assertThatThrownBy(
              () ->
                  ForwardContext.where(1, null)
                      .call(
                          () ->
                              Microbatches.of(new TestMetadata(1), new TestMetadata(2))
                                  .call(
                                      i -> {
                                        if (i == 0) {
                                          waiting.await();
                                          throw first;
                                        }
                                        waiting.countDown();
                                        try {
                                          never.await();
                                        } catch (InterruptedException e) {
                                          throw second;
                                        }
                                        return i;
                                      })))
          .isSameAs(first);

      assertThat(first.getSuppressed()).containsExactly(second);
    }

    @Test
    void noMicrobatchThreadOutlivesTheCallWhetherItSucceedsOrFails() throws Exception {
      Set<Thread> threads = ConcurrentHashMap.newKeySet();
      CyclicBarrier bothStarted = new CyclicBarrier(2);
      Microbatches microbatches = Microbatches.of(new TestMetadata(1), new TestMetadata(2));

      ForwardContext.where(1, null)
          .call(() -> microbatches.call(i -> threads.add(Thread.currentThread())));
      assertThatThrownBy(
              () ->
                  ForwardContext.where(1, null)
                      .call(
                          () ->
                              microbatches.call(
                                  i -> {
                                    threads.add(Thread.currentThread());
                                    bothStarted.await(10, TimeUnit.SECONDS);
                                    throw new IOException("fails");
                                  })))
          .isInstanceOf(IOException.class);

      assertThat(threads).hasSize(4).allSatisfy(t -> assertThat(t.isAlive()).isFalse());
      assertThat(threads)
          .allSatisfy(t -> assertThat(t.isVirtual()).isTrue())
          .extracting(Thread::getName)
          .containsOnly("microbatch-0", "microbatch-1");
    }

    @Test
    void aRawThrowableFromAMicrobatchIsThrownAsItselfNotWrapped() {
      Throwable raw = new Throwable("neither an Exception nor an Error");

      assertThatThrownBy(
              () ->
                  ForwardContext.where(1, null)
                      .call(
                          () ->
                              Microbatches.of(new TestMetadata(1))
                                  .call(i -> Failures.<RuntimeException>sneaky(raw))))
          .isSameAs(raw);
    }

    @SuppressWarnings("unchecked")
    private static <X extends Throwable> Object sneaky(Throwable t) throws X {
      throw (X) t;
    }

    @Test
    void aTaskThatThrowsNoCheckedExceptionLeavesItsCallerFreeOfThrowsException() throws Exception {
      assertThat(ForwardContext.where(1, null).call(Failures::squares)).containsExactly(0, 1, 4);
    }

    // Compiles only because the task throws no checked exception: E is inferred as
    // RuntimeException.
    private static List<Integer> squares() throws InterruptedException {
      return Microbatches.of(new TestMetadata(1), new TestMetadata(2), new TestMetadata(3))
          .call(i -> i * i);
    }
  }

  /** An interrupted caller: the microbatches cancelled and joined, its interrupt status kept. */
  @Nested
  class Interruption {
    @Test
    void interruptingTheCallerCancelsTheMicrobatchesAndWaitsForThem() throws Exception {
      CountDownLatch started = new CountDownLatch(2);
      CountDownLatch never = new CountDownLatch(1);
      Set<Thread> threads = ConcurrentHashMap.newKeySet();
      ConcurrentLinkedQueue<Integer> interrupted = new ConcurrentLinkedQueue<>();
      AtomicReference<Throwable> thrown = new AtomicReference<>();

      Thread caller =
          Thread.ofVirtual()
              .start(
                  () -> {
                    try {
                      ForwardContext.where(1, null)
                          .call(
                              () ->
                                  Microbatches.of(new TestMetadata(1), new TestMetadata(2))
                                      .call(
                                          i -> {
                                            threads.add(Thread.currentThread());
                                            started.countDown();
                                            try {
                                              never.await();
                                            } catch (InterruptedException e) {
                                              interrupted.add(i);
                                              throw e;
                                            }
                                            return i;
                                          }));
                    } catch (Throwable t) {
                      thrown.set(t);
                    }
                  });
      started.await();
      caller.interrupt();
      caller.join();

      assertThat(thrown.get()).isInstanceOf(InterruptedException.class);
      assertThat(thrown.get().getSuppressed()).isEmpty();
      assertThat(interrupted).containsExactlyInAnyOrder(0, 1);
      assertThat(threads).hasSize(2).allSatisfy(t -> assertThat(t.isAlive()).isFalse());
    }

    @Test
    void anInterruptedCallerStartsNoMicrobatchAndKeepsItsInterruptStatus() throws Exception {
      ConcurrentLinkedQueue<Integer> ran = new ConcurrentLinkedQueue<>();
      AtomicBoolean stillInterrupted = new AtomicBoolean();

      ForwardContext.where(1, null)
          .run(
              () -> {
                Thread.currentThread().interrupt();
                assertThatThrownBy(() -> Microbatches.of(new TestMetadata(1)).call(i -> ran.add(i)))
                    .isInstanceOf(InterruptedException.class)
                    .hasMessage("interrupted before the microbatches started");
                stillInterrupted.set(Thread.interrupted()); // and clears it for the next tests
              });

      assertThat(stillInterrupted).isTrue();
      assertThat(ran).isEmpty();
    }

    @Test
    void aCallerInterruptedWhileWaitingThrowsWithItsInterruptStatusSetAgain() throws Exception {
      CountDownLatch started = new CountDownLatch(1);
      CountDownLatch never = new CountDownLatch(1);
      AtomicReference<Throwable> thrown = new AtomicReference<>();
      AtomicBoolean interruptStatusAfter = new AtomicBoolean();

      Thread caller =
          Thread.ofVirtual()
              .start(
                  () -> {
                    try {
                      ForwardContext.where(1, null)
                          .call(
                              () ->
                                  Microbatches.of(new TestMetadata(1))
                                      .call(
                                          i -> {
                                            started.countDown();
                                            never.await();
                                            return i;
                                          }));
                    } catch (Throwable t) {
                      thrown.set(t);
                      interruptStatusAfter.set(Thread.currentThread().isInterrupted());
                    }
                  });
      started.await();
      caller.interrupt();
      caller.join();

      assertThat(thrown.get())
          .isInstanceOf(InterruptedException.class)
          .hasMessage("interrupted while waiting for the microbatches");
      assertThat(interruptStatusAfter).isTrue();
    }
  }

  /** What a microbatch thread starts with. */
  @Nested
  class ThreadLocals {
    @Test
    void aMicrobatchStartsWithTheCallersInheritableThreadLocalsAndNoOtherThreadLocal()
        throws Exception {
      INHERITABLE.set("inherited");
      PLAIN.set("not inherited");
      try {
        List<List<String>> seen =
            ForwardContext.where(1, null)
                .call(
                    () ->
                        Microbatches.of(new TestMetadata(1))
                            .call(i -> Arrays.asList(INHERITABLE.get(), PLAIN.get())));

        assertThat(seen).containsExactly(Arrays.asList("inherited", null));
      } finally {
        INHERITABLE.remove();
        PLAIN.remove();
      }
    }
  }

  /** The enclosing pass timed once; each microbatch timed too with timedBy. */
  @Nested
  class Timed {

    /** A tracker over a fresh registry, and the count of its timer for one batch size. */
    private record Timing(SimpleMeterRegistry registry, BatchSizeTracker tracker) {
      Timing() {
        this(new SimpleMeterRegistry(), null);
      }

      Timing(SimpleMeterRegistry registry, BatchSizeTracker tracker) {
        this.registry = registry;
        this.tracker = tracker == null ? BatchSizeTracker.builder(registry).build() : tracker;
      }

      long count(int batchSize) {
        Timer timer =
            registry.find("forward.pass").tag("batch.size", Integer.toString(batchSize)).timer();
        return timer == null ? 0 : timer.count();
      }
    }

    @Test
    void untimedMicrobatchesLeaveTheEnclosingPassTheOnlyOneTimed() throws Exception {
      Timing timing = new Timing();
      Microbatches microbatches = Microbatches.of(new TestMetadata(3), new TestMetadata(5));

      for (int step = 0; step < 10; step++) {
        timing
            .tracker()
            .where(step, new TestMetadata(8), REQUEST)
            .call(() -> microbatches.call(i -> i));
      }

      assertThat(timing.count(8)).isEqualTo(10);
      assertThat(timing.count(3)).isZero();
      assertThat(timing.count(5)).isZero();
      assertThat(timing.registry().find("forward.pass").timers()).hasSize(1);
    }

    @Test
    void timedMicrobatchesAreEachAPassOfTheirOwnBatchSizeBesidesTheEnclosingOne() throws Exception {
      Timing timing = new Timing();
      Microbatches microbatches =
          Microbatches.of(new TestMetadata(3), new TestMetadata(5)).timedBy(timing.tracker());

      for (int step = 0; step < 10; step++) {
        timing
            .tracker()
            .where(step, new TestMetadata(8), REQUEST)
            .call(() -> microbatches.call(i -> i));
      }

      assertThat(timing.count(8)).isEqualTo(10);
      assertThat(timing.count(3)).isEqualTo(10);
      assertThat(timing.count(5)).isEqualTo(10);
    }

    @Test
    void timedMicrobatchesOfEqualSizeAreTwoRecordsOfThatSize() throws Exception {
      Timing timing = new Timing();
      Microbatches halves =
          Microbatches.of(new TestMetadata(4), new TestMetadata(4)).timedBy(timing.tracker());

      timing.tracker().where(1, new TestMetadata(8)).call(() -> halves.call(i -> i));

      assertThat(timing.count(8)).isEqualTo(1);
      assertThat(timing.count(4)).isEqualTo(2);
    }

    @Test
    void aTimedMicrobatchRecordsItsOwnDuration() throws Exception {
      FakeClock clock = new FakeClock();
      SimpleMeterRegistry registry = new SimpleMeterRegistry();
      Timing timing = new Timing(registry, BatchSizeTracker.builder(registry).clock(clock).build());
      CountDownLatch firstDone = new CountDownLatch(1);
      // microbatch 0 takes 3 ms; microbatch 1 starts its clock after it and takes 5 ms
      Microbatches microbatches =
          Microbatches.of(new TestMetadata(3), new TestMetadata(5)).timedBy(timing.tracker());

      ForwardContext.where(1, null)
          .call(
              () ->
                  microbatches.call(
                      i -> {
                        if (i == 0) {
                          clock.advanceMillis(3);
                          firstDone.countDown();
                        } else {
                          firstDone.await();
                          clock.advanceMillis(5);
                        }
                        return i;
                      }));

      Timer five = registry.get("forward.pass").tag("batch.size", "5").timer();
      assertThat(five.count()).isEqualTo(1);
      // microbatch 1's clock may have started before or after the 3 ms: 5 or 8 ms, never less
      assertThat(five.totalTime(TimeUnit.MILLISECONDS)).isIn(5.0, 8.0);
      assertThat(registry.get("forward.pass").tag("batch.size", "3").timer().count()).isEqualTo(1);
    }

    @Test
    void aFailingTimedMicrobatchIsTimedToo() {
      Timing timing = new Timing();
      Microbatches microbatches =
          Microbatches.of(new TestMetadata(3), new TestMetadata(5)).timedBy(timing.tracker());
      CyclicBarrier bothStarted = new CyclicBarrier(2);

      assertThatThrownBy(
              () ->
                  ForwardContext.where(1, null)
                      .call(
                          () ->
                              microbatches.call(
                                  i -> {
                                    bothStarted.await(10, TimeUnit.SECONDS);
                                    if (i == 1) {
                                      throw new IOException("microbatch 1 failed");
                                    }
                                    return i;
                                  })))
          .isInstanceOf(IOException.class);

      assertThat(timing.count(3)).isEqualTo(1);
      assertThat(timing.count(5)).isEqualTo(1);
    }

    @Test
    void aTimedMicrobatchWithANegativeBatchSizeFailsBeforeAnyThreadStarts() {
      Timing timing = new Timing();
      ConcurrentLinkedQueue<Integer> ran = new ConcurrentLinkedQueue<>();
      Microbatches microbatches =
          Microbatches.of(new TestMetadata(3), () -> -1).timedBy(timing.tracker());

      assertThatThrownBy(
              () -> ForwardContext.where(1, null).call(() -> microbatches.call(i -> ran.add(i))))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("batchSize must be >= 0");
      assertThat(ran).isEmpty();
    }

    @Test
    void underGlobalTrackingTheMicrobatchBindingsStayUntracked() throws Exception {
      List<String> command = new ArrayList<>();
      command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
      command.add("-Dforwardcontext.log-batchsize-interval=1000");
      String classPath =
          String.join(
              File.pathSeparator,
              Path.of(
                      MicrobatchGlobalTrackingProbe.class
                          .getProtectionDomain()
                          .getCodeSource()
                          .getLocation()
                          .toURI())
                  .toString(),
              System.getProperty("jdk.module.path", ""),
              System.getProperty("java.class.path", ""));
      command.addAll(List.of("-cp", classPath, MicrobatchGlobalTrackingProbe.class.getName()));
      ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
      builder.environment().remove(GlobalTracking.ENV);
      Process process = builder.start();
      String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertThat(process.waitFor(60, TimeUnit.SECONDS)).isTrue();

      assertThat(process.exitValue()).as(output).isZero();
      assertThat(output).contains("global=true", "count8=3", "count3=0", "count5=0");
    }

    // --- bad input ---
  }

  /** Bad input, rejected before any thread starts. */
  @Nested
  class BadInput {
    @Test
    void callingOutsideAForwardContextIsAnIllegalStateException() {
      assertThatThrownBy(() -> Microbatches.of(new TestMetadata(1)).call(i -> i))
          .isInstanceOf(IllegalStateException.class)
          .hasMessageStartingWith("Forward context is not set");
    }

    @Test
    void noMicrobatchesIsAnIllegalArgumentException() {
      assertThatThrownBy(() -> Microbatches.of(List.of()))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessage("metadata must hold at least one microbatch's metadata but was empty");
    }

    @Test
    void aNullMicrobatchMetadataIsANullPointerExceptionGivingItsIndex() {
      assertThatThrownBy(() -> Microbatches.of(Arrays.asList(new TestMetadata(1), null)))
          .isInstanceOf(NullPointerException.class)
          .hasMessage("metadata[1] must not be null");
    }

    @Test
    void theMetadataListIsACopy() {
      List<AttentionMetadata> metas = new ArrayList<>(List.of(new TestMetadata(1)));
      Microbatches microbatches = Microbatches.of(metas);
      metas.add(new TestMetadata(2));

      assertThat(microbatches.metadata()).containsExactly(new TestMetadata(1));
    }
  }
}
