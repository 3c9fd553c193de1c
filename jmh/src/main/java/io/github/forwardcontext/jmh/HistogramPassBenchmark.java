package io.github.forwardcontext.jmh;

import io.github.forwardcontext.BatchSizeTracker;
import io.github.forwardcontext.ForwardContext;
import io.github.forwardcontext.ForwardPassHistograms;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * The extra cost per pass of publishing a histogram for fleet-wide quantiles: {@code
 * tracker.where(t, meta).call(op)} on a tracker built with {@code publishHistogram()} ({@code
 * trackedHistogram}) against
 *
 * <ul>
 *   <li>{@code tracked}: the same tracker without a histogram (the default);
 *   <li>{@code floor}: {@code TrackedPassBenchmark}'s floor, a raw binding, two {@code
 *       System.nanoTime()} calls and {@code record} on a Timer cached in an array by batch size;
 *   <li>{@code floorHistogram}: the same floor whose cached timers have the same 19 buckets, to
 *       tell Micrometer's bucket counting from the library's own cost.
 * </ul>
 *
 * Each variant records into a registry of its own, so that no two share a timer. The passes cycle
 * through {@code distinctSizes} batch sizes, as in {@code TrackedPassBenchmark}.
 *
 * <p>Run: {@code ./mvnw -q -f jmh/pom.xml package exec:exec -Djmh.args="-prof gc HistogramPass"}
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@State(Scope.Thread)
public class HistogramPassBenchmark extends ForkedBenchmark {
  @Param({"1", "8"})
  public int distinctSizes;

  private BatchSizeTracker plain;
  private BatchSizeTracker withHistogram;
  private Peers.Meta[] metas;
  private Timer[] timers;
  private Timer[] histogramTimers;
  private int mask;
  private int next;

  @Setup
  public void setUp() {
    plain = BatchSizeTracker.builder(new SimpleMeterRegistry()).build();
    withHistogram = BatchSizeTracker.builder(new SimpleMeterRegistry()).publishHistogram().build();
    metas = Peers.metas(distinctSizes);
    mask = distinctSizes - 1; // a power of two
    timers = new Timer[distinctSizes];
    histogramTimers = new Timer[distinctSizes];
    SimpleMeterRegistry floorRegistry = new SimpleMeterRegistry();
    SimpleMeterRegistry floorHistogramRegistry = new SimpleMeterRegistry();
    Duration[] buckets = ForwardPassHistograms.defaultBuckets().toArray(Duration[]::new);
    for (int i = 0; i < distinctSizes; i++) {
      String tag = Integer.toString(metas[i].batchSize());
      timers[i] = Timer.builder("forward.pass").tag("batch.size", tag).register(floorRegistry);
      histogramTimers[i] =
          Timer.builder("forward.pass")
              .tag("batch.size", tag)
              .serviceLevelObjectives(buckets)
              .register(floorHistogramRegistry);
      // Every size seen once before measuring: the steady state of a long-running pipeline.
      plain.where(i, metas[i]).call(Peers.READ_LIBRARY);
      withHistogram.where(i, metas[i]).call(Peers.READ_LIBRARY);
    }
  }

  @Benchmark
  public ForwardContext tracked() {
    int i = next++ & mask;
    return plain.where(i, metas[i]).call(Peers.READ_LIBRARY);
  }

  @Benchmark
  public ForwardContext trackedHistogram() {
    int i = next++ & mask;
    return withHistogram.where(i, metas[i]).call(Peers.READ_LIBRARY);
  }

  @Benchmark
  public ForwardContext floor() {
    return floorOn(timers);
  }

  @Benchmark
  public ForwardContext floorHistogram() {
    return floorOn(histogramTimers);
  }

  private ForwardContext floorOn(Timer[] cached) {
    int i = next++ & mask;
    long start = System.nanoTime();
    try {
      return ScopedValue.where(Peers.RAW, new ForwardContext(i, metas[i], null))
          .call(Peers.READ_RAW);
    } finally {
      cached[i].record(System.nanoTime() - start, TimeUnit.NANOSECONDS);
    }
  }
}
