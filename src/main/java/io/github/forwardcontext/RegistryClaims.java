package io.github.forwardcontext;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import java.lang.ref.WeakReference;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.WeakHashMap;

/**
 * Which trackers record {@value BatchSizeTracker#METER_NAME} into which registry, so that two of
 * them never merge their timers silently, nor break a Prometheus scrape by exporting one name as a
 * histogram and as a summary at once.
 *
 * <p>A tracker claims its registry and common tags when it is built, and holds the claim until it
 * is {@linkplain BatchSizeTracker#close() closed} or garbage collected. Registries are held weakly
 * too: a claim never keeps a registry or a tracker alive.
 */
final class RegistryClaims {
  private static final Map<MeterRegistry, List<Claim>> CLAIMS = new WeakHashMap<>();

  private RegistryClaims() {}

  /** One tracker's claim. */
  static final class Claim {
    private final WeakReference<BatchSizeTracker> tracker;
    private final List<Claim> owner; // the registry's list; never the registry, a weak key
    private final Tags tags;
    private final boolean histogram;

    private Claim(BatchSizeTracker tracker, List<Claim> owner, Tags tags, boolean histogram) {
      this.tracker = new WeakReference<>(tracker);
      this.owner = owner;
      this.tags = tags;
      this.histogram = histogram;
    }

    private boolean live() {
      BatchSizeTracker t = tracker.get();
      return t != null && !t.isClosed();
    }

    /** Releases the claim; idempotent. */
    void release() {
      synchronized (CLAIMS) {
        owner.remove(this);
      }
    }
  }

  /**
   * Claims {@code registry} for a tracker with these common tags and histogram setting.
   *
   * @throws IllegalStateException if a live tracker with the same tags records into the registry,
   *     or one whose histogram setting differs
   */
  static Claim claim(
      MeterRegistry registry, Tags tags, boolean histogram, BatchSizeTracker tracker) {
    synchronized (CLAIMS) {
      List<Claim> claims = CLAIMS.computeIfAbsent(registry, r -> new ArrayList<>());
      claims.removeIf(c -> !c.live());
      for (Claim c : claims) {
        if (c.tags.equals(tags)) {
          throw new IllegalStateException(
              "Another BatchSizeTracker already records "
                  + BatchSizeTracker.METER_NAME
                  + describe(tags)
                  + " into this registry ("
                  + registry.getClass().getName()
                  + "); two trackers with equal tags would merge their timers. Give each"
                  + " tracker its own tags, e.g. BatchSizeTracker.builder(registry).tags(\"stage\","
                  + " \"denoise\"), or close() the other tracker first");
        }
        if (c.histogram != histogram) {
          throw new IllegalStateException(
              "A BatchSizeTracker with "
                  + setting(c.histogram)
                  + " already records "
                  + BatchSizeTracker.METER_NAME
                  + describe(c.tags)
                  + " into this registry, and this one ("
                  + BatchSizeTracker.METER_NAME
                  + describe(tags)
                  + ") has "
                  + setting(histogram)
                  + ": Prometheus cannot export one meter name as a histogram and as a summary at"
                  + " once. Build every tracker of a registry with the same setting:"
                  + " publishHistogram() on all, or on none");
        }
      }
      Claim claim = new Claim(tracker, claims, tags, histogram);
      claims.add(claim);
      return claim;
    }
  }

  private static String setting(boolean histogram) {
    return histogram ? "publishHistogram()" : "no histogram";
  }

  private static String describe(Tags tags) {
    StringBuilder s = new StringBuilder("{");
    tags.forEach(
        t ->
            s.append(s.length() > 1 ? ", " : "")
                .append(t.getKey())
                .append('=')
                .append(t.getValue()));
    return s.append('}').toString();
  }
}
