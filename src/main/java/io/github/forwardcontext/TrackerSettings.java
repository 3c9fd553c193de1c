package io.github.forwardcontext;

import io.github.forwardcontext.observation.DefaultForwardPassObservationConvention;
import io.github.forwardcontext.observation.ForwardPassObservationConvention;
import io.github.forwardcontext.observation.ForwardPassObservationDocumentation;
import io.micrometer.core.instrument.Clock;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.Tags;
import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationRegistry;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.Executor;
import java.util.function.Consumer;

/**
 * The settings of {@link BatchSizeTracker.Builder}, and their checks. The builder's public setters
 * are declared here, apart from the tracker, so that the tracker's file holds its API and its hot
 * path; they are the builder's own methods in every respect (the javadoc shows them there).
 */
abstract class TrackerSettings {
  static final Duration DEFAULT_INTERVAL = Duration.ofSeconds(1000);

  final MeterRegistry registry;
  Tags tags = Tags.empty();
  Clock clock = Clock.SYSTEM;
  Duration loggingInterval = DEFAULT_INTERVAL;
  int maxBatchSizes; // 0: the default, which depends on the histogram
  Duration[] histogramBuckets; // null: no histogram
  int[] batchSizeBins; // null: every batch size is a tag of its own
  Consumer<? super ForwardContext> beforeClockStops;
  ObservationRegistry observationRegistry;
  ForwardPassObservationConvention observationConvention;
  Executor reportExecutor = BatchSizeReport.OWN_THREAD;

  TrackerSettings(MeterRegistry registry) {
    this.registry = registry;
  }

  private BatchSizeTracker.Builder self() {
    return (BatchSizeTracker.Builder) this;
  }

  /**
   * Adds common tags to every meter of this tracker, for example {@code tags("stage", "denoise")}:
   * the timers become {@code forward.pass{stage=denoise, batch.size=8}}, the pass observations get
   * the same low-cardinality keys, and the report line names them. Trackers of different stages on
   * one registry then keep separate timers. Calls add up; a key given again takes the later value.
   *
   * @param keyValues keys and values, alternating: {@code key1, value1, key2, value2, ...}
   * @return this builder
   * @throws IllegalArgumentException if the number of strings is odd, a key or a value is blank, or
   *     a key is the reserved {@value BatchSizeTracker#BATCH_SIZE_TAG} or is exported under its
   *     name by the registry's naming convention ({@code batch_size} in Prometheus)
   */
  public BatchSizeTracker.Builder tags(String... keyValues) {
    List<Tag> added = TimerRegistration.checkedTags(keyValues);
    RegistryClaims.checkReservedKey(registry, Tags.of(added));
    this.tags = this.tags.and(added);
    return self();
  }

  /**
   * Adds common tags to every meter of this tracker, as {@link #tags(String...)} does.
   *
   * @param tags the tags
   * @return this builder
   * @throws IllegalArgumentException if a key or a value is blank, or a key is the reserved {@value
   *     BatchSizeTracker#BATCH_SIZE_TAG} or is exported under its name by the registry's naming
   *     convention
   */
  public BatchSizeTracker.Builder tags(Iterable<Tag> tags) {
    List<Tag> added = TimerRegistration.checkedTags(tags);
    RegistryClaims.checkReservedKey(registry, Tags.of(added));
    this.tags = this.tags.and(added);
    return self();
  }

  // Where the report is computed and logged; tests run it on their own thread.
  BatchSizeTracker.Builder reportExecutor(Executor executor) {
    this.reportExecutor = Objects.requireNonNull(executor, "executor");
    return self();
  }

  /**
   * Sets how often the report line is logged at most; {@link Duration#ZERO} logs after every pass
   * that finishes later than the last report. The default is 1000 seconds, as in FastVideo.
   *
   * @param loggingInterval the minimum time between two report lines
   * @return this builder
   * @throws IllegalArgumentException if {@code loggingInterval} is negative
   */
  public BatchSizeTracker.Builder loggingInterval(Duration loggingInterval) {
    Objects.requireNonNull(loggingInterval, "loggingInterval");
    if (loggingInterval.isNegative()) {
      throw new IllegalArgumentException("loggingInterval must be >= 0 but was " + loggingInterval);
    }
    this.loggingInterval = loggingInterval;
    return self();
  }

  /**
   * Sets how many distinct batch sizes get a {@value BatchSizeTracker#BATCH_SIZE_TAG} tag of their
   * own: by default 1024, or 256 when a {@linkplain #publishHistogram() histogram} is published.
   * Passes of further sizes are recorded under {@value BatchSizeTracker#OTHER_TAG}.
   *
   * @param maxBatchSizes the cap on distinct batch-size tags
   * @return this builder
   * @throws IllegalArgumentException if {@code maxBatchSizes} is not positive
   */
  public BatchSizeTracker.Builder maxBatchSizes(int maxBatchSizes) {
    if (maxBatchSizes <= 0) {
      throw new IllegalArgumentException("maxBatchSizes must be positive but was " + maxBatchSizes);
    }
    this.maxBatchSizes = maxBatchSizes;
    return self();
  }

  /**
   * Sets the clock whose {@link Clock#monotonicTime()} times the passes and paces the report
   * ({@link Clock#SYSTEM} by default). Tests pass a {@code MockClock}. A clock that throws does not
   * break a pass: the pass runs untimed and the failure is logged (see {@linkplain
   * io.github.forwardcontext##failures failures}).
   *
   * @param clock the clock
   * @return this builder
   */
  public BatchSizeTracker.Builder clock(Clock clock) {
    this.clock = Objects.requireNonNull(clock, "clock");
    return self();
  }

  /**
   * Sets a hook that runs after each timed operation and before the clock stops, for instance to
   * wait for an accelerator's queued kernels as vLLM does, so that the timing covers the device
   * work. The hook receives the pass's context and runs while that context is still bound, so
   * {@link ForwardContext#current()} works in it too (to find the device stream to synchronise,
   * say). A hook that throws is logged (once, then quietly) and the pass goes on.
   *
   * @param hook the hook to run before the clock stops
   * @return this builder
   */
  public BatchSizeTracker.Builder beforeClockStops(Consumer<? super ForwardContext> hook) {
    this.beforeClockStops = Objects.requireNonNull(hook, "hook");
    return self();
  }

  /**
   * Makes each timed pass also a Micrometer {@link Observation}, documented by {@link
   * ForwardPassObservationDocumentation#FORWARD_PASS}: its scope is open while the pass runs, so
   * spans made inside the pass are its children and the pass's span is a child of the caller's.
   * Without this setting no observation is created. The registry's handlers decide what an
   * observation becomes (a span, a timer, a log line); the library chooses none.
   *
   * @param registry the observation registry
   * @return this builder
   */
  public BatchSizeTracker.Builder observationRegistry(ObservationRegistry registry) {
    this.observationRegistry = Objects.requireNonNull(registry, "registry");
    return self();
  }

  /**
   * Replaces the {@linkplain DefaultForwardPassObservationConvention default convention} that names
   * the pass observations and their key values.
   *
   * @param convention the convention
   * @return this builder
   */
  public BatchSizeTracker.Builder observationConvention(
      ForwardPassObservationConvention convention) {
    this.observationConvention = Objects.requireNonNull(convention, "convention");
    return self();
  }

  /**
   * Publishes a histogram of each {@value BatchSizeTracker#METER_NAME} timer with the {@linkplain
   * ForwardPassHistograms#defaultBuckets() default buckets} (a 1-2-5 series from 0.5 ms to 5
   * minutes, 19 bounds), so that a server such as Prometheus can estimate quantiles per batch size
   * across processes. Off by default. Lowers the default {@link #maxBatchSizes(int) maxBatchSizes}
   * to 256; {@link ForwardPassHistograms} counts the series. The timers are registered with it; the
   * passes cost what they cost without it.
   *
   * @return this builder
   */
  public BatchSizeTracker.Builder publishHistogram() {
    return histogramBuckets(ForwardPassHistograms.defaultBuckets().toArray(Duration[]::new));
  }

  /**
   * Publishes a histogram of each {@value BatchSizeTracker#METER_NAME} timer with these bucket
   * bounds, as {@link #publishHistogram()} does with its default ones. Each bound is one more
   * series per batch size.
   *
   * @param buckets the bucket bounds: positive and strictly increasing
   * @return this builder
   * @throws IllegalArgumentException if {@code buckets} is empty, or a bound is not positive, not
   *     greater than the one before it, or greater than {@code Long.MAX_VALUE} nanoseconds
   */
  public BatchSizeTracker.Builder histogramBuckets(Duration... buckets) {
    this.histogramBuckets = ForwardPassHistograms.validated(buckets).toArray(Duration[]::new);
    return self();
  }

  /**
   * Groups the batch sizes into bins for the {@value BatchSizeTracker#BATCH_SIZE_TAG} tag, as vLLM
   * pads a batch to the next CUDA-graph capture size: a pass is tagged with the smallest bin at or
   * above its batch size, and with {@value BatchSizeTracker#OTHER_TAG} above the largest bin.
   * {@link BatchSizeTracker#stats()} and the report keep the exact sizes. By default every size is
   * a tag of its own.
   *
   * @param bins the bins: not negative and strictly increasing
   * @return this builder
   * @throws IllegalArgumentException if {@code bins} is empty, or a bin is negative or not greater
   *     than the one before it
   */
  public BatchSizeTracker.Builder batchSizeBins(int... bins) {
    this.batchSizeBins = BatchSizeBins.validated(bins);
    return self();
  }
}
