package io.github.forwardcontext.jmh;

import io.github.forwardcontext.BatchSizeTracker;
import io.github.forwardcontext.ForwardContext;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.micrometer.observation.ObservationRegistry;
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
 * One tracked forward pass whose body reads the context once: {@code tracker.where(t,
 * meta).call(op)} against
 *
 * <ul>
 *   <li>{@code floor}: a raw binding, two {@code System.nanoTime()} calls and {@code record} on a
 *       Timer cached in an array by batch size;
 *   <li>{@code naiveMicrometer}: the same with {@code Timer.builder(..).tag("batch.size",
 *       ..).register(registry)} per pass;
 *   <li>{@code withTags}: the same with {@code MeterProvider.withTags} per pass;
 *   <li>{@code trackedNoopObservation}: the tracked pass of a tracker given an observation registry
 *       without handlers (Micrometer's no-op path), against the plain {@code tracked}.
 * </ul>
 *
 * The passes cycle through {@code distinctSizes} batch sizes, so the cost shows whether it depends
 * on how many sizes the tracker knows.
 *
 * <p>Run: {@code ./mvnw -q -f jmh/pom.xml package exec:exec -Djmh.args="-prof gc TrackedPass"}
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@State(Scope.Thread)
public class TrackedPassBenchmark extends ForkedBenchmark {
  @Param({"1", "8", "1024"})
  public int distinctSizes;

  private MeterRegistry registry;
  private BatchSizeTracker tracker;
  private BatchSizeTracker observedTracker;
  private Peers.Meta[] metas;
  private Timer[] timers;
  private String[] tags;
  private io.micrometer.core.instrument.Meter.MeterProvider<Timer> provider;
  private int mask;
  private int next;

  @Setup
  public void setUp() {
    registry = new SimpleMeterRegistry();
    tracker = BatchSizeTracker.builder(registry).build();
    // An observation registry without handlers: Micrometer's no-op path.
    observedTracker =
        BatchSizeTracker.builder(registry)
            .tags("variant", "observed") // its own timers: one registry, two trackers
            .observationRegistry(ObservationRegistry.create())
            .build();
    metas = Peers.metas(distinctSizes);
    mask = distinctSizes - 1; // a power of two
    timers = new Timer[distinctSizes];
    tags = new String[distinctSizes];
    provider = Timer.builder("forward.pass.provider").withRegistry(registry);
    for (int i = 0; i < distinctSizes; i++) {
      tags[i] = Integer.toString(metas[i].batchSize());
      timers[i] = Timer.builder("forward.pass.floor").tag("batch.size", tags[i]).register(registry);
      // Every size seen once before measuring: the steady state of a long-running pipeline.
      tracker.where(i, metas[i]).call(Peers.READ_LIBRARY);
      observedTracker.where(i, metas[i]).call(Peers.READ_LIBRARY);
    }
  }

  @Benchmark
  public ForwardContext tracked() {
    int i = next++ & mask;
    return tracker.where(i, metas[i]).call(Peers.READ_LIBRARY);
  }

  @Benchmark
  public ForwardContext trackedNoopObservation() {
    int i = next++ & mask;
    return observedTracker.where(i, metas[i]).call(Peers.READ_LIBRARY);
  }

  @Benchmark
  public ForwardContext floor() {
    int i = next++ & mask;
    long start = System.nanoTime();
    try {
      return ScopedValue.where(Peers.RAW, new ForwardContext(i, metas[i], null))
          .call(Peers.READ_RAW);
    } finally {
      timers[i].record(System.nanoTime() - start, TimeUnit.NANOSECONDS);
    }
  }

  @Benchmark
  public ForwardContext naiveMicrometer() {
    int i = next++ & mask;
    long start = System.nanoTime();
    try {
      return ScopedValue.where(Peers.RAW, new ForwardContext(i, metas[i], null))
          .call(Peers.READ_RAW);
    } finally {
      Timer.builder("forward.pass.naive")
          .tag("batch.size", Integer.toString(metas[i].batchSize()))
          .register(registry)
          .record(System.nanoTime() - start, TimeUnit.NANOSECONDS);
    }
  }

  @Benchmark
  public ForwardContext withTags() {
    int i = next++ & mask;
    long start = System.nanoTime();
    try {
      return ScopedValue.where(Peers.RAW, new ForwardContext(i, metas[i], null))
          .call(Peers.READ_RAW);
    } finally {
      provider
          .withTags("batch.size", tags[i])
          .record(System.nanoTime() - start, TimeUnit.NANOSECONDS);
    }
  }
}
