package io.github.forwardcontext;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import io.micrometer.core.instrument.config.NamingConvention;
import java.lang.ref.WeakReference;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * Which trackers record {@value BatchSizeTracker#METER_NAME} into which registries, so that two of
 * them never merge their timers silently, nor break a Prometheus scrape by exporting one name as a
 * histogram and as a summary at once.
 *
 * <p>A tracker claims its registry when it is built and holds the claim until it is {@linkplain
 * BatchSizeTracker#close() closed} or garbage collected. Two claims meet when their registries
 * share a registry: the same one, or a member of a {@link CompositeMeterRegistry} (such as
 * Micrometer's global registry), looked up when the claim is made. Tags are compared as each shared
 * registry exports them, after its naming convention ({@code stage.name} and {@code stage_name} are
 * one key in Prometheus). Registries and trackers are held weakly: a claim keeps neither alive.
 */
final class RegistryClaims {
  private static final List<Claim> CLAIMS = new ArrayList<>(); // guarded by itself

  private RegistryClaims() {}

  /** One tracker's claim. */
  static final class Claim {
    private final WeakReference<BatchSizeTracker> tracker;
    private final WeakReference<MeterRegistry> registry;
    private final Tags tags;
    private final boolean histogram;

    private Claim(BatchSizeTracker tracker, MeterRegistry registry, Tags tags, boolean histogram) {
      this.tracker = new WeakReference<>(tracker);
      this.registry = new WeakReference<>(registry);
      this.tags = tags;
      this.histogram = histogram;
    }

    /** Releases the claim; idempotent. */
    void release() {
      synchronized (CLAIMS) {
        CLAIMS.remove(this);
      }
    }
  }

  /**
   * Claims {@code registry} for a tracker with these common tags and histogram setting.
   *
   * @throws IllegalStateException if a live tracker with the same tags records into the registry
   *     (or a registry it shares), or one whose histogram setting differs
   */
  static Claim claim(
      MeterRegistry registry, Tags tags, boolean histogram, BatchSizeTracker tracker) {
    Set<MeterRegistry> mine = reach(registry);
    synchronized (CLAIMS) {
      for (Iterator<Claim> it = CLAIMS.iterator(); it.hasNext(); ) {
        Claim other = it.next();
        MeterRegistry otherRegistry = other.registry.get();
        if (other.tracker.get() == null || otherRegistry == null) {
          it.remove(); // garbage collected
          continue;
        }
        for (MeterRegistry shared : reach(otherRegistry)) {
          if (!mine.contains(shared)) {
            continue;
          }
          if (exported(shared, other.tags).equals(exported(shared, tags))) {
            throw new IllegalStateException(
                "Another BatchSizeTracker already records "
                    + BatchSizeTracker.METER_NAME
                    + describe(tags)
                    + " into "
                    + where(registry, shared)
                    + "; two trackers with equal tags would merge their timers. Give each"
                    + " tracker its own tags, e.g. BatchSizeTracker.builder(registry).tags(\"stage\","
                    + " \"denoise\"), or close() the other tracker first");
          }
          if (other.histogram != histogram) {
            throw new IllegalStateException(
                "A BatchSizeTracker with "
                    + setting(other.histogram)
                    + " already records "
                    + BatchSizeTracker.METER_NAME
                    + describe(other.tags)
                    + " into "
                    + where(registry, shared)
                    + ", and this one ("
                    + BatchSizeTracker.METER_NAME
                    + describe(tags)
                    + ") has "
                    + setting(histogram)
                    + ": Prometheus cannot export one meter name as a histogram and as a summary at"
                    + " once. Build every tracker of a registry with the same setting:"
                    + " publishHistogram() on all, or on none");
          }
        }
      }
      Claim claim = new Claim(tracker, registry, tags, histogram);
      CLAIMS.add(claim);
      return claim;
    }
  }

  /**
   * Checks that no common tag key is exported under the same name as {@value
   * BatchSizeTracker#BATCH_SIZE_TAG} by the registry or any registry it reaches ({@code batch_size}
   * in Prometheus).
   *
   * @throws IllegalArgumentException if one is
   */
  static void checkReservedKey(MeterRegistry registry, Tags tags) {
    for (MeterRegistry target : reach(registry)) {
      NamingConvention convention = target.config().namingConvention();
      String reserved = convention.tagKey(BatchSizeTracker.BATCH_SIZE_TAG);
      for (Tag tag : tags) {
        if (convention.tagKey(tag.getKey()).equals(reserved)) {
          throw new IllegalArgumentException(
              "the tag key '"
                  + tag.getKey()
                  + "' is exported as '"
                  + reserved
                  + "' by "
                  + target.getClass().getSimpleName()
                  + ", the name of the reserved key '"
                  + BatchSizeTracker.BATCH_SIZE_TAG
                  + "' there; choose another key, such as \"stage\"");
        }
      }
    }
  }

  /** {@return the registry and, for a composite, every registry it holds, recursively} */
  private static Set<MeterRegistry> reach(MeterRegistry registry) {
    Set<MeterRegistry> reached = Collections.newSetFromMap(new IdentityHashMap<>());
    collect(registry, reached);
    return reached;
  }

  private static void collect(MeterRegistry registry, Set<MeterRegistry> reached) {
    if (!reached.add(registry)) {
      return;
    }
    if (registry instanceof CompositeMeterRegistry composite) {
      for (MeterRegistry member : composite.getRegistries()) {
        collect(member, reached);
      }
    }
  }

  /** {@return the tags as {@code registry} exports them: keys and values after its convention} */
  private static Set<String> exported(MeterRegistry registry, Tags tags) {
    NamingConvention convention = registry.config().namingConvention();
    Set<String> exported = new TreeSet<>();
    for (Tag tag : tags) {
      exported.add(convention.tagKey(tag.getKey()) + "=" + convention.tagValue(tag.getValue()));
    }
    return exported;
  }

  private static String where(MeterRegistry registry, MeterRegistry shared) {
    return shared == registry
        ? "this registry (" + registry.getClass().getName() + ")"
        : "the registry "
            + shared.getClass().getName()
            + " that this one ("
            + registry.getClass().getName()
            + ") shares";
  }

  private static String setting(boolean histogram) {
    return histogram ? "publishHistogram()" : "no histogram";
  }

  private static String describe(Tags tags) {
    return "{" + TimerRegistration.text(tags) + "}";
  }
}
