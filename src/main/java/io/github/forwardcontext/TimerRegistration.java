package io.github.forwardcontext;

import io.github.forwardcontext.internal.FailureLog;
import io.micrometer.core.instrument.Clock;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.stream.Collectors;

/**
 * Registers a tracker's {@value BatchSizeTracker#METER_NAME} timers, one per {@link Series}, with
 * the tracker's common tags and its histogram setting, and retries a registration that failed.
 *
 * <p>A series whose registration fails records into its duration counts only; registration is tried
 * again from a later pass of that size, after 1 s, then after twice as long each time, up to once a
 * minute. A retry holds only its own series' lock, so the passes of other sizes, and new sizes,
 * never wait for it. The first failure of each tag is logged at {@code WARNING}, later ones at
 * {@code DEBUG}.
 */
final class TimerRegistration {
  private static final long FIRST_RETRY_NANOS = 1_000_000_000L;
  private static final long MAX_RETRY_NANOS = 60_000_000_000L;

  private final MeterRegistry registry;
  private final Tags tags; // the tracker's common tags, without batch.size
  private final Duration[] histogramBuckets; // null: no histogram
  private final Clock clock;
  private final FailureLog clockFailures;
  private final FailureLog removalFailures =
      new FailureLog(BatchSizeTracker.LOG, "Could not remove a closed tracker's timer");
  private volatile boolean closed;

  TimerRegistration(
      MeterRegistry registry,
      Tags tags,
      Duration[] histogramBuckets,
      Clock clock,
      FailureLog clockFailures) {
    this.registry = registry;
    this.tags = tags;
    this.histogramBuckets = histogramBuckets;
    this.clock = clock;
    this.clockFailures = clockFailures;
  }

  /** {@return the tags of {@code tags(key, value, ...)}, checked} */
  static List<Tag> checkedTags(String... keyValues) {
    Objects.requireNonNull(keyValues, "keyValues");
    if (keyValues.length % 2 != 0) {
      throw new IllegalArgumentException(
          "keyValues must be pairs of key and value, an even number of strings, but was "
              + keyValues.length
              + ": "
              + Arrays.toString(keyValues));
    }
    List<Tag> tags = new ArrayList<>(keyValues.length / 2);
    for (int i = 0; i < keyValues.length; i += 2) {
      String key = Objects.requireNonNull(keyValues[i], "keyValues[" + i + "] (a key)");
      String value =
          Objects.requireNonNull(keyValues[i + 1], "keyValues[" + (i + 1) + "] (a value)");
      tags.add(checked(Tag.of(key, value)));
    }
    return tags;
  }

  /** {@return {@code tags}, checked} */
  static List<Tag> checkedTags(Iterable<Tag> tags) {
    Objects.requireNonNull(tags, "tags");
    List<Tag> checked = new ArrayList<>();
    for (Tag tag : tags) {
      checked.add(checked(Objects.requireNonNull(tag, "tags must not contain null")));
    }
    return checked;
  }

  private static Tag checked(Tag tag) {
    if (tag.getValue().isBlank()) {
      throw new IllegalArgumentException(
          "the value of the tag key '"
              + tag.getKey()
              + "' must not be blank but was '"
              + tag.getValue()
              + "': Prometheus exports a blank label as no label at all, so such a tracker's series"
              + " would be an untagged tracker's");
    }
    if (tag.getKey().isBlank()) {
      throw new IllegalArgumentException(
          "a tag key must not be blank but was '"
              + tag.getKey()
              + "' (value '"
              + tag.getValue()
              + "')");
    }
    if (tag.getKey().equals(BatchSizeTracker.BATCH_SIZE_TAG)) {
      throw new IllegalArgumentException(
          "the tag key '"
              + BatchSizeTracker.BATCH_SIZE_TAG
              + "' is reserved: the tracker sets it to each pass's batch size (value '"
              + tag.getValue()
              + "' given); choose another key, such as \"stage\"");
    }
    return tag;
  }

  /** Registers the series' timer; on failure, schedules a retry and logs. */
  void register(Series series) {
    if (closed) {
      return;
    }
    try {
      Timer.Builder builder =
          Timer.builder(BatchSizeTracker.METER_NAME)
              .description("Duration of model forward passes, by batch size")
              .tags(tags)
              .tag(BatchSizeTracker.BATCH_SIZE_TAG, series.tag);
      if (histogramBuckets != null) {
        builder.serviceLevelObjectives(histogramBuckets);
      }
      series.timer = builder.register(registry);
    } catch (Throwable e) {
      FailureLog.rethrowIfFatal(e);
      long backoff =
          series.retryBackoffNanos == 0
              ? FIRST_RETRY_NANOS
              : Math.min(MAX_RETRY_NANOS, series.retryBackoffNanos * 2);
      series.retryBackoffNanos = backoff;
      series.retryAtNanos = safeNow() + backoff;
      boolean first = !series.registrationWarned;
      series.registrationWarned = true;
      FailureLog.log(
          BatchSizeTracker.LOG,
          first,
          "Could not register the timer "
              + meterId(series.tag)
              + ": its passes are counted in stats() but not in the registry until registration"
              + " succeeds; retrying in "
              + Duration.ofNanos(backoff)
              + (first ? ". Further failures of this tag are logged at DEBUG." : ""),
          e);
    }
  }

  /** {@return the series' timer, registered again if its retry is due, or {@code null}} */
  Timer retry(Series series, long now) {
    if (closed || now - series.retryAtNanos < 0) {
      return null; // not due: no lock taken
    }
    // The series' own lock: a retry never holds up the passes of other sizes, nor new sizes.
    // close()
    // takes it too, so a retry either ends before close removes the series' timer, or registers
    // nothing.
    synchronized (series) {
      if (!closed && series.timer == null && now - series.retryAtNanos >= 0) {
        register(series);
      }
      return series.timer;
    }
  }

  /**
   * Stops registering, and removes the timers of the index's series from the registry. The caller
   * holds the index's insert lock, under which every first registration is made, so no new series
   * registers a timer that this sweep would miss. Passes recorded into a removed timer from then on
   * are lost to the registry, not to {@link BatchSizeTracker#stats()}.
   */
  void close(BatchSizeIndex index) {
    assert Thread.holdsLock(index.insertLock());
    closed = true;
    int count = index.seriesCount();
    Series[] ordered = index.ordered();
    List<Series> series = new ArrayList<>(Arrays.asList(ordered).subList(0, count));
    series.addAll(Arrays.asList(index.bins().overflowSeries()));
    for (Series s : series) {
      if (s == null) {
        continue;
      }
      synchronized (s) { // a retry in progress ends first
        Timer timer = s.timer;
        if (timer != null) {
          try {
            registry.remove(timer);
          } catch (Throwable e) {
            FailureLog.rethrowIfFatal(e);
            removalFailures.log(e);
          }
        }
      }
    }
  }

  /**
   * {@return the meter's id as the log and the errors show it, e.g. {@code forward.pass{stage=x,
   * batch.size=8}}}
   */
  String meterId(String batchSizeTag) {
    String common = text(tags);
    return BatchSizeTracker.METER_NAME
        + "{"
        + common
        + (common.isEmpty() ? "" : ", ")
        + BatchSizeTracker.BATCH_SIZE_TAG
        + "="
        + batchSizeTag
        + "}";
  }

  /** {@return whether the tracker was closed: nothing registers any more} */
  boolean closed() {
    return closed;
  }

  /** {@return tags as the library's messages and report line show them: {@code k1=v1, k2=v2}} */
  static String text(Tags tags) {
    return tags.stream()
        .map(t -> t.getKey() + "=" + t.getValue())
        .collect(Collectors.joining(", "));
  }

  private long safeNow() {
    try {
      return clock.monotonicTime();
    } catch (Throwable e) {
      FailureLog.rethrowIfFatal(e);
      clockFailures.log(e);
      return 0;
    }
  }
}
