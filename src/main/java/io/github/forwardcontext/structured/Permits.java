package io.github.forwardcontext.structured;

import java.util.concurrent.Semaphore;

/**
 * The permits of one bounded fan-out, shared by all its calls. A task body holds one while it runs;
 * the holder is recorded in a scoped value (owner thread and pool), so that a nested call of any
 * fan-out from that very thread can lend the permit while the thread waits for it. The owner check
 * matters: in the structured mode the binding is inherited by every descendant thread, and only the
 * thread that acquired may release. A thread holds at most one permit: the bodies of a nested
 * bounded call run in threads of their own.
 */
final class Permits {
  private static final ScopedValue<Lease> HELD = ScopedValue.newInstance();

  /** A permit held by {@code holder}; {@code lent} is read and written by the holder only. */
  static final class Lease {
    private final Permits pool;
    private final Thread holder;
    private boolean lent;

    private Lease(Permits pool, Thread holder) {
      this.pool = pool;
      this.holder = holder;
    }

    /**
     * Takes the lent permit back, after the nested call ended with {@code outcome} (null if it
     * returned). An interrupt while waiting for it (a cancellation) ends the wait at once: the
     * holder then throws {@link InterruptedException}, with its interrupt status set, and holds no
     * permit, which {@link Permits#callHolding} does not release.
     */
    void takeBack(Throwable outcome) throws InterruptedException {
      if (!pool.semaphore.tryAcquire()) {
        try {
          pool.semaphore.acquire();
        } catch (InterruptedException cancelled) {
          Thread.currentThread().interrupt();
          if (outcome instanceof InterruptedException alreadyInterrupted) {
            throw alreadyInterrupted;
          }
          if (outcome != null) {
            cancelled.addSuppressed(outcome);
          }
          throw cancelled;
        }
      }
      lent = false;
    }
  }

  final int max;
  private final Semaphore semaphore;

  Permits(int max) {
    this.max = max;
    this.semaphore = new Semaphore(max);
  }

  <T, E extends Exception> T callHolding(FanOut.IndexedTask<? extends T, E> task, int index)
      throws E, InterruptedException {
    semaphore.acquire();
    Lease lease = new Lease(this, Thread.currentThread());
    try {
      return ScopedValue.where(HELD, lease).call(() -> task.call(index));
    } finally {
      if (!lease.lent) {
        semaphore.release();
      }
    }
  }

  /**
   * Releases the permit the current thread holds, of whichever pool; {@return its lease, to take it
   * back with, or {@code null} if the thread holds none}
   */
  static Lease lendIfHeld() {
    if (!HELD.isBound()) {
      return null;
    }
    Lease lease = HELD.get();
    // Not held if lent and not taken back: a task that caught the cancellation and went on.
    if (lease.holder != Thread.currentThread() || lease.lent) {
      return null;
    }
    lease.lent = true;
    lease.pool.semaphore.release();
    return lease;
  }
}
