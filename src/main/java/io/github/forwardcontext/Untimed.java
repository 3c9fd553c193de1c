package io.github.forwardcontext;

import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * The scopes of {@link BatchSizeTracker#untimed(Runnable)}: a scoped value, so that a pass is
 * inside one when it starts on the thread that runs the operation or in a subtask forked inside it
 * (subtasks of a {@code StructuredTaskScope} inherit the binding), and nowhere else.
 *
 * <p>A scope is active only while its operation runs: a task handed over from inside it (see {@link
 * #carry(Runnable)}) that starts after the operation returned is timed again. A tracker counts its
 * open scopes, so that a timed pass outside every scope pays one field read for the check, not a
 * scoped-value lookup.
 */
final class Untimed {
  private static final ScopedValue<Untimed> CURRENT = ScopedValue.newInstance();

  // Open scopes of every tracker: a hand-off outside all of them pays one read, not a lookup.
  private static final AtomicInteger OPEN = new AtomicInteger();

  private final BatchSizeTracker tracker;
  private final Untimed outer; // the enclosing scope, of this tracker or another, or null
  private volatile boolean active = true;

  private Untimed(BatchSizeTracker tracker, Untimed outer) {
    this.tracker = tracker;
    this.outer = outer;
  }

  /** Runs {@code op} inside a new scope of {@code tracker}. */
  static <R, E extends Throwable> R call(
      BatchSizeTracker tracker, ScopedValue.CallableOp<? extends R, E> op) throws E {
    Untimed scope = new Untimed(tracker, CURRENT.isBound() ? CURRENT.get() : null);
    tracker.untimedScopeOpened();
    OPEN.incrementAndGet();
    try {
      return ScopedValue.where(CURRENT, scope).call(op);
    } finally {
      scope.active = false;
      OPEN.decrementAndGet();
      tracker.untimedScopeClosed();
    }
  }

  /** {@return whether a pass of {@code tracker} starting now on this thread is inside a scope} */
  static boolean covers(BatchSizeTracker tracker) {
    if (!CURRENT.isBound()) {
      return false;
    }
    for (Untimed scope = CURRENT.get(); scope != null; scope = scope.outer) {
      if (scope.tracker == tracker && scope.active) {
        return true;
      }
    }
    return false;
  }

  /**
   * {@return {@code task}, or a task that runs it inside the untimed scopes bound to this thread
   * now} For hand-offs to threads that do not inherit scoped values ({@link
   * ForwardContext#wrap(Runnable)} and its siblings, {@code FanOut}'s virtual-thread mode): a task
   * handed over inside a scope is inside it too, while the scope's operation runs.
   */
  static Runnable carry(Runnable task) {
    Untimed scope = captured();
    return scope == null ? task : () -> ScopedValue.where(CURRENT, scope).run(task);
  }

  /** {@return {@code task}, carrying the untimed scopes bound now; see {@link #carry(Runnable)}} */
  static <V> Callable<V> carry(Callable<V> task) {
    Untimed scope = captured();
    return scope == null ? task : () -> ScopedValue.where(CURRENT, scope).call(task::call);
  }

  /** {@return {@code task}, carrying the untimed scopes bound now; see {@link #carry(Runnable)}} */
  static <V> Supplier<V> carry(Supplier<V> task) {
    Untimed scope = captured();
    return scope == null ? task : () -> ScopedValue.where(CURRENT, scope).call(task::get);
  }

  private static Untimed captured() {
    return OPEN.get() == 0 || !CURRENT.isBound() ? null : CURRENT.get();
  }
}
