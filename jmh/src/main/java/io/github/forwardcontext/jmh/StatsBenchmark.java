package io.github.forwardcontext.jmh;

import io.github.forwardcontext.BatchSizeStats;
import io.github.forwardcontext.BatchSizeTracker;
import io.micrometer.core.instrument.MockClock;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * The cost of {@code stats()}, which the periodic report runs on a forward pass's thread: a tracker
 * that knows 1024 batch sizes, each with 64 passes whose durations span three powers of two (1 to 8
 * ms), recorded by one thread. With {@code -prof gc}, B/op is what one call allocates.
 *
 * <p>Run: {@code ./mvnw -q -f jmh/pom.xml package exec:exec -Djmh.args="-prof gc Stats"}
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@State(Scope.Benchmark)
public class StatsBenchmark extends ForkedBenchmark {
  private BatchSizeTracker tracker;

  @Setup
  public void setUp() {
    MockClock clock = new MockClock();
    tracker = BatchSizeTracker.builder(new SimpleMeterRegistry()).clock(clock).build();
    Peers.Meta[] metas = Peers.metas(1024);
    for (Peers.Meta meta : metas) {
      for (int i = 0; i < 64; i++) {
        long micros = 1_000 + (i * 7_000L / 63); // 1 ms to 8 ms: three octaves
        tracker.where(i, meta).run(() -> clock.add(Duration.ofNanos(micros * 1_000)));
      }
    }
  }

  @Benchmark
  public List<BatchSizeStats> stats() {
    return tracker.stats();
  }
}
