package io.github.forwardcontext.batching;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * A dispatcher clock that moves only when the test moves it. Each timed wait of the dispatcher is
 * recorded as a {@link Park} the test can await, and {@link #advance} wakes the parked dispatcher.
 *
 * <p>No wake-up is lost: {@code parkUntil} publishes the parked thread before it reads the time,
 * and {@code advance} moves the time before it reads the parked thread, so either the dispatcher
 * sees the new time, or {@code advance} unparks it (the park permit covers an unpark that comes
 * before the park).
 */
final class FakeTicker implements Ticker {
  static final long START = 1_000_000_000L;

  /** One timed wait of the dispatcher: when it began and until when it was to last. */
  record Park(long at, long deadline) {}

  private final AtomicLong now = new AtomicLong(START);
  private volatile Thread parked;
  private final LinkedBlockingQueue<Park> pending = new LinkedBlockingQueue<>();
  private final List<Park> all = new CopyOnWriteArrayList<>();

  @Override
  public long read() {
    return now.get();
  }

  @Override
  public void parkUntil(Object blocker, long deadline) {
    parked = Thread.currentThread();
    long at = now.get();
    Park park = new Park(at, deadline);
    all.add(park);
    pending.add(park);
    if (at - deadline < 0) {
      LockSupport.park(blocker);
    }
  }

  void advance(Duration duration) {
    now.addAndGet(duration.toNanos());
    Thread thread = parked;
    if (thread != null) {
      LockSupport.unpark(thread);
    }
  }

  long nanosSinceStart() {
    return now.get() - START;
  }

  /**
   * Waits for the dispatcher's next timed wait that began at {@code at} (skipping earlier ones).
   */
  Park awaitParkAt(long at) throws InterruptedException {
    while (true) {
      Park park = pending.take();
      if (park.at() == at) {
        return park;
      }
    }
  }

  /** {@return every timed wait so far} */
  List<Park> parks() {
    return List.copyOf(all);
  }
}
