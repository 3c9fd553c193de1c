package io.github.forwardcontext;

import io.micrometer.core.instrument.Clock;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;

/** A thread-safe clock that moves only when a test moves it. */
final class FakeClock implements Clock {
  private final AtomicLong nanos = new AtomicLong(1_000_000_000L);

  void advance(Duration duration) {
    nanos.addAndGet(duration.toNanos());
  }

  void advanceMillis(double millis) {
    nanos.addAndGet(Math.round(millis * 1e6));
  }

  @Override
  public long wallTime() {
    return nanos.get() / 1_000_000L;
  }

  @Override
  public long monotonicTime() {
    return nanos.get();
  }
}
