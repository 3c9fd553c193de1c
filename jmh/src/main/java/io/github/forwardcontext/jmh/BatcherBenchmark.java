package io.github.forwardcontext.jmh;

import io.github.forwardcontext.BatchSizeTracker;
import io.github.forwardcontext.batching.DynamicBatcher;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.infra.Blackhole;

/**
 * The dynamic batcher: its own cost per request, and what batching buys when a pass has a fixed
 * cost.
 *
 * <ul>
 *   <li>{@code roundTripBatcher} vs {@code roundTripSynchronousQueue} (average time per request):
 *       one virtual thread submits {@value #ROUND_TRIPS} items in a row to a batcher with {@code
 *       maxBatchSize} 1 and an empty forward function (it returns the batch), and waits for each
 *       result; the peer is the raw floor of the same hand-off, a request {@link SynchronousQueue}
 *       and a reply {@code SynchronousQueue} between the submitting virtual thread and a worker
 *       virtual thread. Target: the batcher at most 2 times the floor.
 *   <li>{@code throughput} (items per millisecond), with {@code maxBatchSize} 1 and 16: {@value
 *       #SUBMITTERS} virtual threads submit {@value #ITEMS_PER_SUBMITTER} items each, concurrently;
 *       the forward function burns a fixed 50 µs plus 1 µs per item of CPU with {@link
 *       Blackhole#consumeCPU(long)}, calibrated when the trial starts (the tokens per microsecond,
 *       from the fastest of 20 timed runs, are printed). Both batchers have a {@code maxWait} of
 *       200 µs: a full batch runs at once, and a batch that finds the queue short waits for the
 *       submitters on their way back with their next item instead of running nearly empty (with
 *       {@code maxWait} zero, on 2 busy cores, two batches in three ran a single item, 12 to 26% of
 *       the items). It does not touch {@code maxBatchSize} 1, whose batches are always full.
 *       Target: {@code maxBatchSize} 16 at least 8 times the throughput of 1.
 * </ul>
 *
 * <p>Run: {@code ./mvnw -q -f jmh/pom.xml package exec:exec -Djmh.args="-prof gc Batcher"}
 */
public class BatcherBenchmark extends ForkedBenchmark {
  static final int ROUND_TRIPS = 1_000;
  static final int SUBMITTERS = 64;
  static final int ITEMS_PER_SUBMITTER = 64;

  /** The round-trip benchmarks' batcher and raw worker. */
  @State(Scope.Benchmark)
  public static class RoundTrip {
    DynamicBatcher<Integer, Integer> batcher;
    final SynchronousQueue<Integer> requests = new SynchronousQueue<>();
    final SynchronousQueue<Integer> replies = new SynchronousQueue<>();
    Thread worker;

    /** Starts the batcher and the raw worker. */
    @Setup(Level.Trial)
    public void start() {
      BatchSizeTracker tracker = BatchSizeTracker.builder(new SimpleMeterRegistry()).build();
      batcher =
          DynamicBatcher.<Integer, Integer>builder(tracker, batch -> batch).maxBatchSize(1).build();
      worker =
          Thread.ofVirtual()
              .start(
                  () -> {
                    try {
                      while (true) {
                        replies.put(requests.take());
                      }
                    } catch (InterruptedException e) {
                      // the trial is over
                    }
                  });
    }

    /** Stops both. */
    @TearDown(Level.Trial)
    public void stop() throws InterruptedException {
      batcher.close();
      worker.interrupt();
      worker.join();
    }
  }

  /** The throughput benchmark's batcher, its forward function burning calibrated CPU. */
  @State(Scope.Benchmark)
  public static class Busy {
    /** The batcher's largest batch. */
    @Param({"1", "16"})
    public int maxBatchSize;

    DynamicBatcher<Integer, Integer> batcher;

    /** Calibrates the CPU burn and starts the batcher. */
    @Setup(Level.Trial)
    public void start() {
      long tokensPerMicro = calibrateTokensPerMicrosecond();
      System.out.println("Blackhole.consumeCPU: " + tokensPerMicro + " tokens per microsecond");
      BatchSizeTracker tracker = BatchSizeTracker.builder(new SimpleMeterRegistry()).build();
      batcher =
          DynamicBatcher.<Integer, Integer>builder(
                  tracker,
                  batch -> {
                    Blackhole.consumeCPU(tokensPerMicro * (50 + batch.size()));
                    return batch;
                  })
              .maxBatchSize(maxBatchSize)
              .maxWait(Duration.ofNanos(200_000))
              .maxQueued(SUBMITTERS)
              .build();
    }

    /** Closes the batcher. */
    @TearDown(Level.Trial)
    public void stop() {
      batcher.close();
    }
  }

  /** Tokens of {@code consumeCPU} per microsecond: the best of several timed runs, once warm. */
  static long calibrateTokensPerMicrosecond() {
    long tokens = 1 << 20;
    long best = Long.MAX_VALUE;
    for (int i = 0; i < 20; i++) {
      long start = System.nanoTime();
      Blackhole.consumeCPU(tokens);
      best = Math.min(best, System.nanoTime() - start);
    }
    return Math.max(1, tokens * 1_000 / best);
  }

  @Benchmark
  @BenchmarkMode(Mode.AverageTime)
  @OutputTimeUnit(TimeUnit.NANOSECONDS)
  @OperationsPerInvocation(ROUND_TRIPS)
  public long roundTripBatcher(RoundTrip state) throws InterruptedException {
    long[] sum = new long[1];
    Thread client =
        Thread.ofVirtual()
            .start(
                () -> {
                  try {
                    for (int i = 0; i < ROUND_TRIPS; i++) {
                      sum[0] += state.batcher.submit(i);
                    }
                  } catch (Exception e) {
                    throw new IllegalStateException(e);
                  }
                });
    client.join();
    return sum[0];
  }

  @Benchmark
  @BenchmarkMode(Mode.AverageTime)
  @OutputTimeUnit(TimeUnit.NANOSECONDS)
  @OperationsPerInvocation(ROUND_TRIPS)
  public long roundTripSynchronousQueue(RoundTrip state) throws InterruptedException {
    long[] sum = new long[1];
    Thread client =
        Thread.ofVirtual()
            .start(
                () -> {
                  try {
                    for (int i = 0; i < ROUND_TRIPS; i++) {
                      state.requests.put(i);
                      sum[0] += state.replies.take();
                    }
                  } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                  }
                });
    client.join();
    return sum[0];
  }

  @Benchmark
  @BenchmarkMode(Mode.Throughput)
  @OutputTimeUnit(TimeUnit.MILLISECONDS)
  @OperationsPerInvocation(SUBMITTERS * ITEMS_PER_SUBMITTER)
  public long throughput(Busy state) throws InterruptedException {
    long[] sums = new long[SUBMITTERS];
    List<Thread> submitters = new ArrayList<>(SUBMITTERS);
    for (int s = 0; s < SUBMITTERS; s++) {
      int index = s;
      submitters.add(
          Thread.ofVirtual()
              .start(
                  () -> {
                    try {
                      for (int i = 0; i < ITEMS_PER_SUBMITTER; i++) {
                        sums[index] += state.batcher.submit(i);
                      }
                    } catch (Exception e) {
                      throw new IllegalStateException(e);
                    }
                  }));
    }
    long total = 0;
    for (int s = 0; s < SUBMITTERS; s++) {
      submitters.get(s).join();
      total += sums[s];
    }
    return total;
  }
}
