package io.github.forwardcontext.example.pipeline;

import io.micrometer.core.instrument.Clock;
import java.util.SplittableRandom;

/**
 * Forward passes whose durations are known in advance: the example's {@code --simulate} mode.
 *
 * <p>A pass of batch size {@code b} takes {@code base * (1 + b / 8)} times a seeded jitter: a
 * log-normal factor {@code exp(0.15 * N(0, 1))}, and one pass in 32 stalls four times longer (a
 * tail for p99 to find). The draw depends only on the seed, the request and the step, so it does
 * not depend on how the concurrent requests interleave, and a test can compute every duration of a
 * run, and so the true quantiles, without running it.
 *
 * <p>The passes are timed on {@link #clock()}, a simulated clock with one time line per thread: a
 * pass's own thread advances it by the pass's duration, so concurrent passes do not add to each
 * other's time and nothing sleeps. The real computation still runs; it takes no simulated time.
 */
public final class SimulatedPasses {
  /** One pass in this many stalls. */
  public static final int STALL_EVERY = 32;

  /** How much longer a stalled pass takes. */
  public static final double STALL_FACTOR = 4;

  /** The standard deviation of the log of the jitter. */
  public static final double SIGMA = 0.15;

  private final double baseMillis;
  private final long seed;
  private final ThreadClock clock = new ThreadClock();

  SimulatedPasses(double baseMillis, long seed) {
    this.baseMillis = baseMillis;
    this.seed = seed;
  }

  /** {@return the clock to time the passes on} */
  Clock clock() {
    return clock;
  }

  /** Spends, on the current thread's simulated time line, the duration of this pass. */
  void pass(int request, int step, int batchSize) {
    clock.advance(nanos(baseMillis, seed, request, step, batchSize));
  }

  /**
   * {@return the duration of a pass in nanoseconds}
   *
   * @param baseMillis the {@code --simulate} value
   * @param seed the run's {@code --seed}
   * @param request the request's index
   * @param step the denoising step
   * @param batchSize the request's batch size
   */
  public static long nanos(double baseMillis, long seed, int request, int step, int batchSize) {
    SplittableRandom random =
        new SplittableRandom(
            seed * 0x9E3779B97F4A7C15L
                + request * 0xBF58476D1CE4E5B9L
                + step * 0x94D049BB133111EBL);
    double millis = baseMillis * (1 + batchSize / 8.0) * Math.exp(SIGMA * random.nextGaussian());
    if (random.nextInt(STALL_EVERY) == 0) {
      millis *= STALL_FACTOR;
    }
    return Math.round(millis * 1e6);
  }

  /** Simulated monotonic time, one time line per thread; wall time is the system's. */
  private static final class ThreadClock implements Clock {
    private final ThreadLocal<long[]> nanos = ThreadLocal.withInitial(() -> new long[1]);

    void advance(long by) {
      nanos.get()[0] += by;
    }

    @Override
    public long wallTime() {
      return System.currentTimeMillis();
    }

    @Override
    public long monotonicTime() {
      return nanos.get()[0];
    }
  }
}
