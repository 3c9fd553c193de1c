package io.github.forwardcontext.batching;

import io.micrometer.core.instrument.MeterRegistry;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.WeakHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The names of the live batchers of each registry. Meters are shared by name and tags, so two live
 * batchers of one name on one registry would share their meters: {@link #reserve} refuses a name in
 * use. A batcher's name is {@linkplain #release released} only after its meters are removed from
 * the registry, so a batcher built under a just-freed name registers meters of its own.
 */
final class BatcherNames {
  /** Numbers the default names: "batcher-1", "batcher-2", ... */
  private static final AtomicLong UNNAMED = new AtomicLong();

  /** The names of the live batchers of each registry; guarded by itself. */
  private static final Map<MeterRegistry, Set<String>> LIVE = new WeakHashMap<>();

  private BatcherNames() {}

  /** {@return a default name, unique in the JVM} */
  static String unnamed() {
    return "batcher-" + UNNAMED.incrementAndGet();
  }

  /**
   * Reserves {@code name} on {@code registry}.
   *
   * @throws IllegalArgumentException if a live batcher of {@code registry} has that name
   */
  static void reserve(MeterRegistry registry, String name) {
    synchronized (LIVE) {
      if (!LIVE.computeIfAbsent(registry, r -> new HashSet<>()).add(name)) {
        throw new IllegalArgumentException(
            "name must be unique among the live batchers of a registry but '"
                + name
                + "' is used by a batcher on "
                + registry
                + " that has not terminated");
      }
    }
  }

  /** Frees {@code name} on {@code registry}; call it after the batcher's meters are removed. */
  static void release(MeterRegistry registry, String name) {
    synchronized (LIVE) {
      Set<String> names = LIVE.get(registry);
      if (names != null) {
        names.remove(name);
        if (names.isEmpty()) {
          LIVE.remove(registry);
        }
      }
    }
  }
}
