package io.github.forwardcontext;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class BatchSizeTrackerConcurrencyTest implements NoContextLeftBound {

  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  private final FakeClock clock = new FakeClock();
  private final LogCapture log = new LogCapture();

  @AfterEach
  void closeLog() {
    log.close();
  }

  @Test
  void manyVirtualThreadsFinishingPassesAtOnceLoseNoSample() throws InterruptedException {
    BatchSizeTracker tracker = BatchSizeTracker.builder(registry).clock(clock).build();
    int threads = 200;
    int passesPerThread = 50;
    int[] sizes = {1, 2, 4, 8};
    CountDownLatch start = new CountDownLatch(1);
    List<Thread> started = new ArrayList<>();

    for (int t = 0; t < threads; t++) {
      int id = t;
      started.add(
          Thread.ofVirtual()
              .start(
                  () -> {
                    awaitUninterruptibly(start);
                    for (int p = 0; p < passesPerThread; p++) {
                      int size = sizes[(id + p) % sizes.length];
                      tracker
                          .where(p, new TestMetadata(size))
                          .run(
                              () ->
                                  assertThat(ForwardContext.current().attnMetadata().batchSize())
                                      .isEqualTo(size));
                    }
                  }));
    }
    start.countDown();
    for (Thread thread : started) {
      thread.join();
    }

    long expectedPerSize = (long) threads * passesPerThread / sizes.length;
    for (int size : sizes) {
      assertThat(
              registry
                  .find("forward.pass")
                  .tag("batch.size", Integer.toString(size))
                  .timer()
                  .count())
          .as("timer count for batch size %d", size)
          .isEqualTo(expectedPerSize);
    }
    assertThat(tracker.stats())
        .hasSize(sizes.length)
        .allSatisfy(row -> assertThat(row.count()).isEqualTo(expectedPerSize));
  }

  @Test
  void manyThreadsFinishingPassesAtTheSameMomentLogOneReport() throws InterruptedException {
    BatchSizeTracker tracker =
        BatchSizeTracker.builder(registry)
            .clock(clock)
            .loggingInterval(Duration.ofSeconds(1))
            .reportExecutor(Runnable::run) // the report is logged before the last pass returns
            .build();
    tracker.where(0, new TestMetadata(8)).run(() -> {});
    tracker.where(0, new TestMetadata(8)).run(() -> {});
    clock.advance(Duration.ofSeconds(2)); // a report is due; the clock stands still from here

    int threads = 64;
    CountDownLatch inside = new CountDownLatch(threads);
    List<Thread> started = new ArrayList<>();
    for (int t = 0; t < threads; t++) {
      started.add(
          Thread.ofVirtual()
              .start(
                  () ->
                      tracker
                          .where(0, new TestMetadata(8))
                          .run(
                              () -> {
                                inside.countDown();
                                awaitUninterruptibly(inside); // all finish together
                              })));
    }
    for (Thread thread : started) {
      thread.join();
    }

    assertThat(log.reports()).hasSize(1);
    assertThat(tracker.stats().getFirst().count()).isEqualTo(threads + 2);
  }

  private static void awaitUninterruptibly(CountDownLatch latch) {
    boolean interrupted = false;
    while (true) {
      try {
        latch.await();
        break;
      } catch (InterruptedException e) {
        interrupted = true;
      }
    }
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }
}
