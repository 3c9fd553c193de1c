package io.github.forwardcontext.batching;

import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * A batcher clock that moves only when the test moves it. Each timed wait of the dispatcher (a
 * thread named {@code batcher-...}) is recorded as a {@link Park} the test can await, and so is
 * each timed wait of a caller, apart; {@link #advance} wakes every thread that parked on it.
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
  private final Set<Thread> parked = ConcurrentHashMap.newKeySet();
  private final LinkedBlockingQueue<Park> pending = new LinkedBlockingQueue<>();
  private final LinkedBlockingQueue<Park> callerPending = new LinkedBlockingQueue<>();
  private final List<Park> all = new CopyOnWriteArrayList<>();

  @Override
  public long read() {
    return now.get();
  }

  @Override
  public void parkUntil(Object blocker, long deadline) {
    Thread thread = Thread.currentThread();
    parked.add(thread);
    long at = now.get();
    Park park = new Park(at, deadline);
    if (thread.getName().startsWith("batcher-")) {
      all.add(park);
      pending.add(park);
    } else {
      callerPending.add(park);
    }
    if (at - deadline < 0) {
      LockSupport.park(blocker);
    }
  }

  void advance(Duration duration) {
    now.addAndGet(duration.toNanos());
    for (Thread thread : parked) {
      LockSupport.unpark(thread);
    }
  }

  /** Waits for the next timed wait of a caller (a submit with a timeout), not the dispatcher. */
  Park awaitCallerPark() throws InterruptedException {
    return callerPending.take();
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
