package io.github.forwardcontext;

import io.github.forwardcontext.internal.FailureLog;
import io.github.forwardcontext.observation.DefaultForwardPassObservationConvention;
import io.github.forwardcontext.observation.ForwardPassObservationContext;
import io.github.forwardcontext.observation.ForwardPassObservationConvention;
import io.github.forwardcontext.observation.ForwardPassObservationDocumentation;
import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationRegistry;
import java.util.function.Consumer;

/**
 * The longer path of a timed pass, taken when its tracker has a {@linkplain
 * BatchSizeTracker.Builder#beforeClockStops before-stop hook}, an {@linkplain
 * BatchSizeTracker.Builder#observationRegistry observation registry}, or both. The plain path stays
 * in {@link BatchSizeTracker}, small enough to be inlined where a pass is created.
 *
 * <p>Nothing here changes the outcome of the pass: a hook that throws is logged (a {@link
 * VirtualMachineError} propagates, after the pass is recorded), and so is a handler that throws
 * while the observation starts, opens or closes its scope, or stops. An observation whose start
 * failed halfway (one handler started, the next one threw) is still stopped when the pass ends, so
 * that the handlers that did start (a long-task timer, a span) end too, as far as Micrometer's stop
 * reaches: it stops the handlers in reverse order and gives up at the first that throws. A scope
 * whose opening or closing failed leaves the thread's current observation as it was before the
 * pass.
 */
final class DecoratedPass {
  private final BatchSizeTracker tracker;
  private final Consumer<? super ForwardContext> hook; // null: none
  private final ObservationRegistry observations; // null: no observations
  private final ForwardPassObservationConvention convention; // null: the default
  private final FailureLog hookFailures =
      new FailureLog(
          BatchSizeTracker.LOG, "Forward-pass before-stop hook failed; the pass goes on");
  private final FailureLog observationFailures =
      new FailureLog(BatchSizeTracker.LOG, "Forward-pass observation failed; the pass goes on");

  DecoratedPass(
      BatchSizeTracker tracker,
      Consumer<? super ForwardContext> hook,
      ObservationRegistry observations,
      ForwardPassObservationConvention convention) {
    this.tracker = tracker;
    this.hook = hook;
    this.observations = observations;
    this.convention = convention;
  }

  /** Binds the context, runs the hook and the observation around {@code op}, and times it. */
  <R, E extends Throwable> R call(
      ForwardContext context, Series series, ScopedValue.CallableOp<? extends R, E> op) throws E {
    Observation observation = startObservation(context, series);
    boolean timed = true;
    long start = 0;
    try {
      start = tracker.clock.monotonicTime();
    } catch (Throwable e) {
      tracker.clockFailed(e);
      timed = false;
    }
    Hook hook = this.hook == null ? null : new Hook(context);
    Throwable failure = null;
    Observation.Scope scope = openScope(observation);
    try {
      if (hook == null) {
        return context.bindCall(op);
      }
      // The hook runs inside the binding, so that it can read the pass's context.
      return context.bindCall(
          () -> {
            try {
              return op.call();
            } finally {
              hook.run();
            }
          });
    } catch (Throwable e) {
      failure = e;
      throw e;
    } finally {
      if (timed) {
        TimedPass.stop(series, start);
      }
      if (scope != null) {
        scope.close();
      }
      stopObservation(observation, failure);
      if (hook != null) {
        hook.rethrowFatal();
      }
    }
  }

  /** Runs the before-stop hook once; keeps a VirtualMachineError to rethrow after recording. */
  private final class Hook {
    private final ForwardContext context;
    private VirtualMachineError fatal;

    Hook(ForwardContext context) {
      this.context = context;
    }

    void run() {
      try {
        hook.accept(context);
      } catch (VirtualMachineError e) {
        fatal = e;
      } catch (Throwable e) {
        hookFailures.log(e);
      }
    }

    void rethrowFatal() {
      if (fatal != null) {
        throw fatal;
      }
    }
  }

  private Observation startObservation(ForwardContext context, Series series) {
    if (observations == null) {
      return null;
    }
    Observation observation;
    try {
      observation =
          ForwardPassObservationDocumentation.FORWARD_PASS.observation(
              convention,
              DefaultForwardPassObservationConvention.INSTANCE,
              () -> new ForwardPassObservationContext(context, series.tag, tracker.tags()),
              observations);
    } catch (Throwable e) {
      FailureLog.rethrowIfFatal(e);
      observationFailures.log(e);
      return null;
    }
    try {
      observation.start();
    } catch (Throwable e) {
      FailureLog.rethrowIfFatal(e);
      // Some handlers may have started before one threw: the observation is kept, and stopped
      // with the pass, so that theirs end too.
      observationFailures.log(e);
    }
    return observation;
  }

  private Observation.Scope openScope(Observation observation) {
    if (observation == null) {
      return null;
    }
    // What was current before: a handler that throws while the scope opens (or closes) may leave
    // the pass's scope current on this thread, which would leak it past the pass.
    Observation.Scope previous = observations.getCurrentObservationScope();
    try {
      return new GuardedScope(observation.openScope(), previous);
    } catch (Throwable e) {
      FailureLog.rethrowIfFatal(e);
      restoreScope(previous);
      observationFailures.log(e);
      return null;
    }
  }

  private void restoreScope(Observation.Scope previous) {
    try {
      observations.setCurrentObservationScope(previous);
    } catch (Throwable ignored) {
      FailureLog.rethrowIfFatal(ignored);
      // The failure that brought us here is logged.
    }
  }

  private void stopObservation(Observation observation, Throwable failure) {
    if (observation == null) {
      return;
    }
    try {
      if (failure != null) {
        observation.error(failure);
      }
    } catch (Throwable e) {
      FailureLog.rethrowIfFatal(e);
      observationFailures.log(e);
    }
    try {
      observation.stop();
    } catch (Throwable e) {
      FailureLog.rethrowIfFatal(e);
      observationFailures.log(e);
    }
  }

  /** An observation scope whose close never throws into the pass. */
  private final class GuardedScope implements Observation.Scope {
    private final Observation.Scope scope;
    private final Observation.Scope previous;

    GuardedScope(Observation.Scope scope, Observation.Scope previous) {
      this.scope = scope;
      this.previous = previous;
    }

    @Override
    public Observation getCurrentObservation() {
      return scope.getCurrentObservation();
    }

    @Override
    public void close() {
      try {
        scope.close();
      } catch (Throwable e) {
        FailureLog.rethrowIfFatal(e);
        restoreScope(previous);
        observationFailures.log(e);
      }
    }

    @Override
    public void reset() {
      scope.reset();
    }

    @Override
    public void makeCurrent() {
      scope.makeCurrent();
    }
  }
}
