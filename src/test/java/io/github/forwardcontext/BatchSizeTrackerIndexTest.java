package io.github.forwardcontext;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;

/** The batch-size index: every size found again, small and large, in first-seen order. */
class BatchSizeTrackerIndexTest implements NoContextLeftBound {

  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  private final FakeClock clock = new FakeClock();

  @Test
  void manySmallAndLargeSizesAreEachFoundAgainUnderTheirOwnTimer() {
    BatchSizeTracker tracker =
        BatchSizeTracker.builder(registry).clock(clock).maxBatchSizes(65_536).build();
    List<Integer> sizes = new ArrayList<>();
    for (int i = 0; i < 20_000; i++) {
      sizes.add(i % 2 == 0 ? i : BatchSizeTracker.DIRECT_LIMIT + i * 97);
    }
    sizes.add(Integer.MAX_VALUE);
    sizes.add(0);

    for (int round = 0; round < 2; round++) {
      for (int size : sizes) {
        tracker.where(0, new TestMetadata(size)).run(() -> clock.advanceMillis(1));
      }
    }

    List<BatchSizeStats> rows = tracker.stats();
    assertThat(rows).hasSize(sizes.size() - 1); // 0 appears twice in the list
    assertThat(rows)
        .allSatisfy(row -> assertThat(row.count()).isEqualTo(row.batchSize() == 0 ? 4 : 2));
    assertThat(rows.subList(1, rows.size()))
        .extracting(BatchSizeStats::batchSize)
        .as("equal counts keep first-seen order")
        .containsExactlyElementsOf(sizes.subList(1, sizes.size() - 1));
    assertThat(registry.find("forward.pass").timers()).hasSize(sizes.size() - 1);
    assertThat(registry.find("forward.pass").tag("batch.size", "2147483647").timer().count())
        .isEqualTo(2);
  }

  @Test
  void sizesFirstSeenConcurrentlyGetOneSeriesEach() throws Exception {
    BatchSizeTracker tracker =
        BatchSizeTracker.builder(registry).clock(clock).maxBatchSizes(65_536).build();
    int threads = 8;
    CountDownLatch start = new CountDownLatch(1);
    List<Thread> workers = new ArrayList<>();
    for (int t = 0; t < threads; t++) {
      workers.add(
          Thread.ofVirtual()
              .start(
                  () -> {
                    try {
                      start.await();
                    } catch (InterruptedException e) {
                      throw new AssertionError(e);
                    }
                    for (int size = 0; size < 3_000; size++) {
                      int batchSize = size % 3 == 0 ? BatchSizeTracker.DIRECT_LIMIT + size : size;
                      tracker.where(0, new TestMetadata(batchSize)).run(() -> {});
                    }
                  }));
    }
    start.countDown();
    for (Thread worker : workers) {
      worker.join();
    }

    List<BatchSizeStats> rows = tracker.stats();
    assertThat(rows).hasSize(3_000);
    assertThat(rows).allSatisfy(row -> assertThat(row.count()).isEqualTo(threads));
    assertThat(registry.find("forward.pass").timers()).hasSize(3_000);
  }
}
