package io.github.forwardcontext.batching;

import java.util.concurrent.locks.LockSupport;

/**
 * The dispatcher's time source and timed wait. Tests replace it with a clock that moves only when
 * they move it, and observe through {@link #parkUntil(long)} that the dispatcher is waiting and for
 * which deadline.
 */
interface Ticker {

  /** The system ticker: {@link System#nanoTime()} and {@link LockSupport#parkNanos}. */
  Ticker SYSTEM =
      new Ticker() {
        @Override
        public long read() {
          return System.nanoTime();
        }

        @Override
        public void parkUntil(Object blocker, long deadline) {
          LockSupport.parkNanos(blocker, deadline - System.nanoTime());
        }
      };

  /** {@return the current time in nanoseconds, only meaningful as a difference} */
  long read();

  /**
   * Parks the current thread until {@link #read()} reaches {@code deadline}, until it is unparked,
   * or spuriously: the caller re-checks its state after every return.
   */
  void parkUntil(Object blocker, long deadline);
}
