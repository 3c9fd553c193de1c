package io.github.forwardcontext.internal;

import java.time.Duration;

/** The library's one conversion of a {@link Duration} to nanoseconds. */
public final class Durations {
  private static final Duration MAX_NANOS = Duration.ofNanos(Long.MAX_VALUE);

  private Durations() {}

  /**
   * {@return {@code duration} in nanoseconds, {@link Long#MAX_VALUE} if it is longer than that
   * (about 292 years), and 0 if it is negative} Deadlines computed from the result with {@code
   * System.nanoTime()} must be compared as differences ({@code deadline - now > 0}), which stay
   * right when the sum overflows.
   *
   * @param duration the duration
   */
  public static long saturatedNanos(Duration duration) {
    if (duration.isNegative()) {
      return 0;
    }
    return duration.compareTo(MAX_NANOS) >= 0 ? Long.MAX_VALUE : duration.toNanos();
  }
}
