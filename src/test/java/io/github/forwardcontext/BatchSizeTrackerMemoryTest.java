package io.github.forwardcontext;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.Clock;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import org.junit.jupiter.api.Test;

class BatchSizeTrackerMemoryTest implements NoContextLeftBound {

  /** Each reading moves time on by a different amount, so passes spread over many buckets. */
  private static final class SteppingClock implements Clock {
    private long now;
    private long step;

    @Override
    public long wallTime() {
      return now / 1_000_000;
    }

    @Override
    public long monotonicTime() {
      step = (step * 31 + 17) % 50_000_000; // up to 50 ms
      return now += step;
    }
  }

  @Test
  void millionsOfPassesDoNotGrowTheHeap() {
    SteppingClock clock = new SteppingClock();
    BatchSizeTracker tracker =
        BatchSizeTracker.builder(new SimpleMeterRegistry()).clock(clock).build();
    LogCapture log = new LogCapture(); // the simulated hours of passes report every 1000 s
    TestMetadata[] metas = {new TestMetadata(1), new TestMetadata(8), new TestMetadata(64)};
    Runnable op = () -> {};

    for (int i = 0; i < 200_000; i++) { // every size, stripe and histogram range reached
      tracker.where(i, metas[i % metas.length]).run(op);
    }
    long before = usedHeapAfterGc();
    for (int i = 0; i < 4_000_000; i++) {
      tracker.where(i, metas[i % metas.length]).run(op);
    }
    long after = usedHeapAfterGc();
    log.close();

    assertThat(tracker.stats().stream().mapToLong(BatchSizeStats::count).sum())
        .isEqualTo(4_200_000L);
    assertThat(after - before).as("heap growth in bytes").isLessThan(4L << 20);
    long simulatedSeconds = clock.now / 1_000_000_000L;
    assertThat(log.reports())
        .as("at most one report per 1000 s of simulated time")
        .isNotEmpty()
        .hasSizeLessThanOrEqualTo((int) (simulatedSeconds / 1000) + 1);
  }

  private static long usedHeapAfterGc() {
    MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
    long used = Long.MAX_VALUE;
    for (int i = 0; i < 3; i++) { // the lowest of a few readings: what survives a full GC
      System.gc();
      used = Math.min(used, memory.getHeapMemoryUsage().getUsed());
    }
    return used;
  }
}
