package io.github.forwardcontext.example.pipeline;

import java.util.Random;

/**
 * When each request arrives: a Poisson process, that is exponential gaps between arrivals with a
 * mean of {@code 1 / rate}, drawn from a seeded random source so that a run can be repeated.
 */
public final class Arrivals {
  private Arrivals() {}

  /**
   * {@return the arrival time of each request, in nanoseconds after the start of the run} The first
   * request arrives at 0; a rate of 0 means every request arrives at once.
   *
   * @param requests the number of requests
   * @param ratePerSecond the mean arrival rate; 0 for all at once
   * @param seed the seed of the gaps
   */
  public static long[] offsetsNanos(int requests, double ratePerSecond, long seed) {
    long[] offsets = new long[requests];
    if (ratePerSecond <= 0) {
      return offsets;
    }
    Random random = new Random(seed ^ 0x5DEECE66DL);
    double at = 0;
    for (int i = 1; i < requests; i++) {
      // Inverse transform: -ln(U) / rate is exponential with mean 1 / rate (U in (0, 1]).
      at += -Math.log(1 - random.nextDouble()) / ratePerSecond;
      offsets[i] = Math.round(at * 1e9);
    }
    return offsets;
  }

  /** Waits, on the request's own virtual thread, until the request's arrival time. */
  static void awaitArrival(long runStartNanos, long offsetNanos) throws InterruptedException {
    long wait = runStartNanos + offsetNanos - System.nanoTime();
    if (wait > 0) {
      Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
    }
  }
}
