package io.github.forwardcontext.jmh;

import io.github.forwardcontext.BatchSizeTracker;
import io.github.forwardcontext.ForwardContext;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.infra.Blackhole;

/**
 * First sight of many batch sizes: a fresh tracker (cap raised to 65,536) times one pass of each of
 * {@code sizes} new batch sizes, spread over the whole int range so that both the direct array and
 * the hash table grow. The score is per insert ({@code sizes} operations per invocation), so an
 * amortised O(1) insert shows the same score at 1,000 and 40,000 sizes; {@code registerOnly} is the
 * same registration of a Micrometer timer per size without the tracker, the floor of an insert.
 *
 * <p>Run: {@code ./mvnw -q -f jmh/pom.xml package exec:exec -Djmh.args="Insert"}
 */
@BenchmarkMode(Mode.SingleShotTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@State(Scope.Thread)
public class InsertBenchmark extends ForkedBenchmark {
  @Param({"1000", "40000"})
  public int sizes;

  private int[] batchSizes;
  private MeterRegistry registry;
  private BatchSizeTracker tracker;

  @Setup(Level.Trial)
  public void sizes() {
    batchSizes = new int[sizes];
    for (int i = 0; i < sizes; i++) {
      // Half below the direct array's limit, half above it.
      batchSizes[i] = i % 2 == 0 ? i : 1_000_000 + i * 37;
    }
  }

  @Setup(Level.Invocation)
  public void freshTracker() {
    registry = new SimpleMeterRegistry();
    tracker = BatchSizeTracker.builder(registry).maxBatchSizes(65_536).build();
  }

  @Benchmark
  public void insert(Blackhole bh) {
    for (int size : batchSizes) {
      bh.consume(tracker.where(0, new Peers.Meta(size)).call(Peers.READ_LIBRARY));
    }
  }

  @Benchmark
  public void registerOnly(Blackhole bh) {
    for (int size : batchSizes) {
      bh.consume(
          io.micrometer.core.instrument.Timer.builder("forward.pass")
              .tag("batch.size", Integer.toString(size))
              .register(registry));
    }
    bh.consume(ForwardContext.isBound());
  }
}
