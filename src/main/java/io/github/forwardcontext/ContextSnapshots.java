package io.github.forwardcontext;

import io.micrometer.context.ContextSnapshot;
import io.micrometer.context.ContextSnapshotFactory;
import java.util.concurrent.Callable;

/**
 * The only class of the core that references Micrometer's context-propagation library, an optional
 * dependency: it is loaded only once {@link ThreadLocalContexts} has checked that the library is
 * there, so the rest of the core loads and runs without it.
 */
final class ContextSnapshots implements ThreadLocalContexts.Capture {
  private final ContextSnapshotFactory factory;

  private ContextSnapshots(ContextSnapshotFactory factory) {
    this.factory = factory;
  }

  static ThreadLocalContexts.Capture of(ContextSnapshotFactory factory) {
    return new ContextSnapshots(factory);
  }

  static ThreadLocalContexts.Capture ofGlobalRegistry() {
    return new ContextSnapshots(ContextSnapshotFactory.builder().clearMissing(true).build());
  }

  @Override
  public Object capture() {
    return factory.captureAll();
  }

  @Override
  public Runnable wrap(Object captured, Runnable task) {
    ContextSnapshot snapshot = (ContextSnapshot) captured;
    return () -> {
      try (ContextSnapshot.Scope restored = snapshot.setThreadLocals()) {
        task.run();
      }
    };
  }

  @Override
  public <V> Callable<V> wrap(Object captured, Callable<V> task) {
    ContextSnapshot snapshot = (ContextSnapshot) captured;
    return () -> {
      try (ContextSnapshot.Scope restored = snapshot.setThreadLocals()) {
        return task.call();
      }
    };
  }

  @Override
  public String toString() {
    return factory.toString();
  }
}
