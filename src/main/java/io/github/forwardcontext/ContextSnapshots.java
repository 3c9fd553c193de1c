package io.github.forwardcontext;

import io.micrometer.context.ContextRegistry;
import io.micrometer.context.ContextSnapshot;
import io.micrometer.context.ContextSnapshotFactory;
import io.micrometer.context.ThreadLocalAccessor;
import java.lang.reflect.Field;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.Callable;

/**
 * The only class of the core that references Micrometer's context-propagation library, an optional
 * dependency: it is loaded only once {@link ThreadLocalContexts} has checked that the library is
 * there, so the rest of the core loads and runs without it.
 *
 * <p>Around each task it keeps the promise that the thread gets back what it had. The snapshot's
 * own scope restores only the keys the snapshot holds (and, with {@code clearMissing}, those it
 * clears): a key that the submitter did not have, set by the task, would stay on a pool thread. So
 * the value of every thread-local of the factory's registry is read before the task, and each one
 * the task left changed is restored after it (or cleared, if the thread had none).
 */
final class ContextSnapshots implements ThreadLocalContexts.Capture {
  private final ContextSnapshotFactory factory;
  private final ContextRegistry registry; // whose thread-locals a task leaves as it found them

  private ContextSnapshots(ContextSnapshotFactory factory, ContextRegistry registry) {
    this.factory = factory;
    this.registry = registry;
  }

  static ThreadLocalContexts.Capture of(ContextSnapshotFactory factory) {
    return new ContextSnapshots(factory, registryOf(factory));
  }

  static ThreadLocalContexts.Capture of(ContextSnapshotFactory factory, ContextRegistry registry) {
    return new ContextSnapshots(factory, registry);
  }

  static ThreadLocalContexts.Capture ofGlobalRegistry() {
    return new ContextSnapshots(
        ContextSnapshotFactory.builder().clearMissing(true).build(), ContextRegistry.getInstance());
  }

  /*
   * context-propagation keeps a factory's registry private and offers no way to ask for it, nor to
   * clear a key through a factory that does not clear missing keys. A factory made by its builder
   * holds it in the field read here; any other factory, or a later version that renames the field,
   * gets the global registry, the builder's default.
   */
  static ContextRegistry registryOf(ContextSnapshotFactory factory) {
    try {
      Field field = factory.getClass().getDeclaredField("contextRegistry");
      field.setAccessible(true);
      if (field.get(factory) instanceof ContextRegistry registry) {
        return registry;
      }
    } catch (ReflectiveOperationException | RuntimeException notThere) {
      // Falls back to the global registry below.
    }
    return ContextRegistry.getInstance();
  }

  @Override
  public Object capture() {
    return factory.captureAll();
  }

  @Override
  public Runnable wrap(Object captured, Runnable task) {
    ContextSnapshot snapshot = (ContextSnapshot) captured;
    return () -> {
      ThreadValues before = ThreadValues.read(registry);
      try (ContextSnapshot.Scope restored = snapshot.setThreadLocals()) {
        task.run();
      } finally {
        before.restore();
      }
    };
  }

  @Override
  public <V> Callable<V> wrap(Object captured, Callable<V> task) {
    ContextSnapshot snapshot = (ContextSnapshot) captured;
    return () -> {
      ThreadValues before = ThreadValues.read(registry);
      try (ContextSnapshot.Scope restored = snapshot.setThreadLocals()) {
        return task.call();
      } finally {
        before.restore();
      }
    };
  }

  @Override
  public String toString() {
    return factory.toString();
  }

  /** The values that one thread had of every thread-local of a registry, at one moment. */
  private record ThreadValues(List<ThreadLocalAccessor<?>> accessors, Object[] values) {
    static ThreadValues read(ContextRegistry registry) {
      List<ThreadLocalAccessor<?>> accessors = registry.getThreadLocalAccessors();
      Object[] values = new Object[accessors.size()];
      for (int i = 0; i < values.length; i++) {
        values[i] = accessors.get(i).getValue();
      }
      return new ThreadValues(accessors, values);
    }

    /** Puts back, in reverse order as a scope does, each value that is no longer there. */
    void restore() {
      for (int i = values.length - 1; i >= 0; i--) {
        ThreadLocalAccessor<?> accessor = accessors.get(i);
        if (!Objects.equals(accessor.getValue(), values[i])) {
          restore(accessor, values[i]);
        }
      }
    }

    @SuppressWarnings("unchecked")
    private static <V> void restore(ThreadLocalAccessor<V> accessor, Object value) {
      if (value == null) {
        accessor.restore();
      } else {
        accessor.restore((V) value);
      }
    }
  }
}
