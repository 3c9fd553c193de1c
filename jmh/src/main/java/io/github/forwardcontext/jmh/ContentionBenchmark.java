package io.github.forwardcontext.jmh;

import io.github.forwardcontext.BatchSizeTracker;
import io.github.forwardcontext.ForwardContext;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Threads;

/**
 * Tracked passes of one batch size, all recorded by one shared tracker, from one thread and from
 * two at once (throughput: the two-thread score is both threads together). The floor (raw binding,
 * {@code nanoTime}, one shared cached Timer) shows how Micrometer itself scales.
 *
 * <p>Run: {@code ./mvnw -q -f jmh/pom.xml package exec:exec -Djmh.args="-prof gc Contention"}
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@State(Scope.Benchmark)
public class ContentionBenchmark extends ForkedBenchmark {
  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  private final BatchSizeTracker tracker = BatchSizeTracker.builder(registry).build();
  private final Timer timer =
      Timer.builder("forward.pass.floor").tag("batch.size", "8").register(registry);
  private final Peers.Meta meta = new Peers.Meta(8);

  @Benchmark
  @Threads(1)
  public ForwardContext library() {
    return tracker.where(1, meta).call(Peers.READ_LIBRARY);
  }

  @Benchmark
  @Threads(2)
  public ForwardContext library2Threads() {
    return tracker.where(1, meta).call(Peers.READ_LIBRARY);
  }

  @Benchmark
  @Threads(1)
  public ForwardContext floor() {
    return floorPass();
  }

  @Benchmark
  @Threads(2)
  public ForwardContext floor2Threads() {
    return floorPass();
  }

  private ForwardContext floorPass() {
    long start = System.nanoTime();
    try {
      return ScopedValue.where(Peers.RAW, new ForwardContext(1, meta, null)).call(Peers.READ_RAW);
    } finally {
      timer.record(System.nanoTime() - start, TimeUnit.NANOSECONDS);
    }
  }
}
