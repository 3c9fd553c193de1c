package io.github.forwardcontext;

/**
 * The scopes of {@link BatchSizeTracker#untimed(Runnable)}: a scoped value, so that a pass is
 * inside one when it starts on the thread that runs the operation or in a subtask forked inside it
 * (subtasks of a {@code StructuredTaskScope} inherit the binding), and nowhere else.
 *
 * <p>A scope is active only while its operation runs: a task handed over from inside it that starts
 * after the operation returned is timed again. A tracker counts its open scopes, so that a timed
 * pass outside every scope pays one field read for the check, not a scoped-value lookup.
 */
final class Untimed {
  private static final ScopedValue<Untimed> CURRENT = ScopedValue.newInstance();

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
    try {
      return ScopedValue.where(CURRENT, scope).call(op);
    } finally {
      scope.active = false;
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

  /** {@return the innermost scope bound to this thread, to hand over to another thread, or null} */
  static Object capture() {
    return CURRENT.isBound() ? CURRENT.get() : null;
  }

  /** Runs {@code op} with a captured scope (from {@link #capture()}) bound, or as it is if null. */
  static <R, E extends Throwable> R callWith(
      Object captured, ScopedValue.CallableOp<? extends R, E> op) throws E {
    return captured == null ? op.call() : ScopedValue.where(CURRENT, (Untimed) captured).call(op);
  }
}
