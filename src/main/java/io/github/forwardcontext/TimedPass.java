package io.github.forwardcontext;

import io.github.forwardcontext.internal.FailureLog;
import io.micrometer.core.instrument.Timer;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.TimeUnit;

/**
 * The plain hot path of a tracked pass: what {@link BatchSizeTracker.TrackedPass#run} and {@link
 * BatchSizeTracker.TrackedPass#call} do. Static and apart from them, so that those stay small
 * enough to be inlined where the pass is created (the pass object then never reaches the heap), and
 * so that a pass reads its tracker through its series, which it holds already.
 *
 * <p>One field read, {@code detours}, sends a pass off the plain path: it is non-zero when the
 * tracker has a hook or observations ({@link DecoratedPass}), and while an {@link
 * BatchSizeTracker#untimed(Runnable) untimed} scope of the tracker is open on any thread (a
 * scoped-value lookup then decides whether the pass is inside it).
 */
final class TimedPass {
  private static final VarHandle LAST_REPORT;

  static {
    try {
      LAST_REPORT =
          MethodHandles.lookup()
              .findVarHandle(BatchSizeTracker.class, "lastReportNanos", long.class);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  private TimedPass() {}

  static void run(ForwardContext context, Series series, Runnable op) {
    if (series == null) {
      context.bindRun(op);
      return;
    }
    BatchSizeTracker tracker = series.tracker;
    if (tracker.detours != 0) { // a hook, observations, or an open untimed scope
      detour(tracker, context, series, op);
      return;
    }
    timedRun(tracker, context, series, op);
  }

  static <R, E extends Throwable> R call(
      ForwardContext context, Series series, ScopedValue.CallableOp<? extends R, E> op) throws E {
    if (series == null) {
      return context.bindCall(op);
    }
    BatchSizeTracker tracker = series.tracker;
    if (tracker.detours != 0) { // a hook, observations, or an open untimed scope
      return detour(tracker, context, series, op);
    }
    return timedCall(tracker, context, series, op);
  }

  private static void timedRun(
      BatchSizeTracker tracker, ForwardContext context, Series series, Runnable op) {
    long start;
    try {
      start = tracker.clock.monotonicTime();
    } catch (Throwable e) {
      tracker.clockFailed(e);
      context.bindRun(op); // untimed: the clock cannot time it
      return;
    }
    try {
      context.bindRun(op);
    } finally {
      stop(series, start);
    }
  }

  private static <R, E extends Throwable> R timedCall(
      BatchSizeTracker tracker,
      ForwardContext context,
      Series series,
      ScopedValue.CallableOp<? extends R, E> op)
      throws E {
    long start;
    try {
      start = tracker.clock.monotonicTime();
    } catch (Throwable e) {
      tracker.clockFailed(e);
      return context.bindCall(op); // untimed: the clock cannot time it
    }
    try {
      return context.bindCall(op);
    } finally {
      stop(series, start);
    }
  }

  // Off the plain path, so that its two methods stay as small as they were before untimed scopes.
  private static void detour(
      BatchSizeTracker tracker, ForwardContext context, Series series, Runnable op) {
    if (Untimed.covers(tracker)) {
      context.bindRun(op);
    } else if (tracker.decorated != null) {
      tracker.decorated.call(
          context,
          series,
          () -> {
            op.run();
            return null;
          });
    } else {
      timedRun(tracker, context, series, op); // a scope is open, but not around this pass
    }
  }

  private static <R, E extends Throwable> R detour(
      BatchSizeTracker tracker,
      ForwardContext context,
      Series series,
      ScopedValue.CallableOp<? extends R, E> op)
      throws E {
    if (Untimed.covers(tracker)) {
      return context.bindCall(op);
    }
    if (tracker.decorated != null) {
      return tracker.decorated.call(context, series, op);
    }
    return timedCall(tracker, context, series, op); // a scope is open, but not around this pass
  }

  /** Records a pass that started at {@code start}, into its series and its timer. */
  static void stop(Series series, long start) {
    BatchSizeTracker tracker = series.tracker;
    long end;
    try {
      end = tracker.clock.monotonicTime();
    } catch (Throwable e) {
      tracker.clockFailed(e); // the pass's duration is unknown: nothing is recorded
      return;
    }
    // One rule for both: a clock that went backwards makes a zero-length pass, counted in the
    // median and in Micrometer alike (Micrometer would drop a negative amount).
    long nanos = Math.max(0L, end - start);
    series.record(nanos); // first: a Micrometer failure must not lose the sample
    Timer timer = series.timer;
    if (timer == null) {
      timer = tracker.timers.retry(series, end);
    }
    if (timer != null) {
      try {
        timer.record(nanos, TimeUnit.NANOSECONDS);
      } catch (Throwable e) {
        FailureLog.rethrowIfFatal(e);
        tracker.meterFailures.log(e);
      }
    }
    long last = tracker.lastReportNanos;
    // Only the thread whose CAS moves the mark reports: at most one report per interval.
    if (end - last > tracker.intervalNanos && LAST_REPORT.compareAndSet(tracker, last, end)) {
      tracker.report.submit();
    }
  }
}
