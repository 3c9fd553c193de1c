package io.github.forwardcontext;

import io.github.forwardcontext.internal.Durations;
import io.github.forwardcontext.internal.FailureLog;
import io.github.forwardcontext.observation.ForwardPassObservationConvention;
import io.github.forwardcontext.observation.ForwardPassObservationDocumentation;
import io.micrometer.core.instrument.Clock;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationRegistry;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.Executor;
import java.util.function.Consumer;

/**
 * Binds forward contexts like {@link ForwardContext#where(int, AttentionMetadata)} and times each
 * pass, grouped by batch size: as the Micrometer timer {@value #METER_NAME} tagged {@value
 * #BATCH_SIZE_TAG}, and as the periodic report line of FastVideo's {@code forward_context}.
 *
 * <p>Unless otherwise specified, passing {@code null} to a method of this class throws {@link
 * NullPointerException}. Instances are thread-safe; one tracker usually serves a whole pipeline
 * stage for the life of the application.
 *
 * <h2>Timing a pass</h2>
 *
 * {@snippet class="io.github.forwardcontext.snippets.TrackerSnippets" region="timing"}
 *
 * A pass is timed only when its attention metadata is present. Its {@linkplain
 * AttentionMetadata#batchSize() batch size} is read when the pass is created, before the operation
 * runs, and must not be negative. Each binding keeps its own start time, so nested tracked passes
 * are timed independently. A pass that throws is timed too, and its exception propagates unchanged.
 * The clock is {@link Clock#monotonicTime()} of the {@linkplain Builder#clock(Clock) builder's
 * clock}; a duration that comes out negative (a clock that went backwards) is recorded as zero, in
 * the timer and in {@link #stats()} alike. Passes inside {@link #untimed(Runnable)} (warm-up runs,
 * graph capture) are bound but not timed.
 *
 * <p>Several trackers share a registry when each has tags of its own ({@linkplain
 * io.github.forwardcontext##stages stages}); the {@linkplain io.github.forwardcontext##report
 * report line} is logged off the passes' threads; each timed pass can be an {@linkplain
 * io.github.forwardcontext##observations observation}. The package description also says
 * {@linkplain io.github.forwardcontext##recorded what is recorded} (the timers, the cap on
 * batch-size tags, the memory the medians take), {@linkplain io.github.forwardcontext##failures
 * what happens when the tracker's own machinery fails} (never the pass), and how {@linkplain
 * io.github.forwardcontext##global global tracking} works: {@link #global()} returns the global
 * tracker.
 */
public final class BatchSizeTracker extends BatchSizeIndex implements AutoCloseable {

  /** The name of the timers: {@value}. */
  public static final String METER_NAME = "forward.pass";

  /** The tag that carries the batch size: {@value}. */
  public static final String BATCH_SIZE_TAG = "batch.size";

  /** The tag value for the batch sizes beyond the cap: {@value}. */
  public static final String OTHER_TAG = "other";

  static final String REPORT_PREFIX = BatchSizeReport.PREFIX;
  static final System.Logger LOG = System.getLogger(BatchSizeTracker.class.getName());

  private static final Duration DEFAULT_INTERVAL = Duration.ofSeconds(1000);
  private static final int DEFAULT_MAX_BATCH_SIZES = 1024;
  private static final int DEFAULT_MAX_BATCH_SIZES_WITH_HISTOGRAM = 256;

  private final MeterRegistry registry;
  private final Tags tags;
  final Clock clock;
  final long intervalNanos;
  private final int maxBatchSizes;
  final DecoratedPass decorated; // a hook or observations: the longer path; else null
  private final IllegalArgumentException misconfiguration; // a malformed global setting, or null
  private final BatchSizeBins bins;
  final TimerRegistration timers;
  final BatchSizeReport report;
  final FailureLog meterFailures =
      new FailureLog(LOG, "Forward-pass recording failed; the forward pass goes on");
  private final FailureLog clockFailures =
      new FailureLog(LOG, "Forward-pass clock failed; the forward pass goes on");
  private final RegistryClaims.Claim claim;
  volatile int untimedScopes; // open untimed(..) scopes of this tracker, on any thread
  private volatile boolean closed;

  volatile long lastReportNanos; // when the last report was started; CAS through TimedPass

  private BatchSizeTracker(Builder builder, IllegalArgumentException misconfiguration) {
    this.registry = builder.registry;
    this.tags = builder.tags;
    this.clock = builder.clock;
    this.intervalNanos = Durations.saturatedNanos(builder.loggingInterval);
    this.maxBatchSizes =
        builder.maxBatchSizes > 0
            ? builder.maxBatchSizes
            : builder.histogramBuckets != null
                ? DEFAULT_MAX_BATCH_SIZES_WITH_HISTOGRAM
                : DEFAULT_MAX_BATCH_SIZES;
    this.misconfiguration = misconfiguration;
    this.bins = new BatchSizeBins(this, builder.batchSizeBins);
    this.timers =
        new TimerRegistration(registry, tags, builder.histogramBuckets, clock, clockFailures);
    this.report = new BatchSizeReport(this, builder.reportExecutor);
    this.decorated =
        builder.beforeClockStops == null && builder.observationRegistry == null
            ? null
            : new DecoratedPass(
                this,
                builder.beforeClockStops,
                builder.observationRegistry,
                builder.observationConvention);
    this.lastReportNanos = clock.monotonicTime();
    // Last: a tracker that fails its claim is never used.
    this.claim =
        misconfiguration != null
            ? null
            : RegistryClaims.claim(registry, tags, builder.histogramBuckets != null, this);
  }

  /**
   * {@return a builder for a tracker that records into {@code registry}}
   *
   * @param registry the registry the {@value #METER_NAME} timers are registered in
   */
  public static Builder builder(MeterRegistry registry) {
    return new Builder(Objects.requireNonNull(registry, "registry"));
  }

  /**
   * {@return the registry this tracker registers its {@value #METER_NAME} timers in} Components
   * built on a tracker, such as a request batcher, register their own meters there too.
   */
  public MeterRegistry registry() {
    return registry;
  }

  /**
   * {@return the common tags of this tracker's meters}, empty unless {@link
   * Builder#tags(String...)} set some. Components built on a tracker, such as a request batcher,
   * put them on their own meters too, so that a stage's meters can be told apart from another's.
   */
  public Tags tags() {
    return tags;
  }

  /**
   * {@return the global tracker, if the start-up setting switched global tracking on} See "Global
   * tracking" above.
   *
   * @throws IllegalStateException if the start-up setting is malformed; the message names the
   *     setting and its value
   */
  public static Optional<BatchSizeTracker> global() {
    BatchSizeTracker global = ForwardContext.globalTracker();
    if (global != null) {
      global.checkConfigured();
    }
    return Optional.ofNullable(global);
  }

  // A tracker that stands for a malformed global setting: every globally tracked pass fails with
  // the setting's message, while contexts and explicitly built trackers keep working.
  static BatchSizeTracker misconfigured(IllegalArgumentException cause) {
    return new BatchSizeTracker(new Builder(new SimpleMeterRegistry()), cause);
  }

  private void checkConfigured() {
    if (misconfiguration != null) {
      throw new IllegalStateException(
          "Global batch-size tracking is misconfigured: " + misconfiguration.getMessage(),
          misconfiguration);
    }
  }

  /**
   * Returns a pass that binds a context with this timestep and attention metadata and, when the
   * metadata is present, times its operation under the metadata's batch size.
   *
   * @param currentTimestep the timestep of the pass
   * @param attnMetadata the attention metadata of the pass; may be {@code null} (the pass is then
   *     bound but not timed)
   * @return a pass whose {@code run} and {@code call} bind the context and time the operation
   * @throws IllegalArgumentException if the metadata reports a negative batch size
   */
  public TrackedPass where(int currentTimestep, AttentionMetadata attnMetadata) {
    return where(currentTimestep, attnMetadata, null);
  }

  /**
   * Returns a pass that binds a context with this timestep, attention metadata and forward batch
   * and, when the metadata is present, times its operation under the metadata's batch size.
   *
   * @param currentTimestep the timestep of the pass
   * @param attnMetadata the attention metadata of the pass; may be {@code null} (the pass is then
   *     bound but not timed)
   * @param forwardBatch the pipeline's per-request state; may be {@code null}
   * @return a pass whose {@code run} and {@code call} bind the context and time the operation
   * @throws IllegalArgumentException if the metadata reports a negative batch size
   */
  public TrackedPass where(
      int currentTimestep, AttentionMetadata attnMetadata, ForwardBatch forwardBatch) {
    ForwardContext context = new ForwardContext(currentTimestep, attnMetadata, forwardBatch);
    return new TrackedPass(context, seriesOf(context));
  }

  /**
   * Runs {@code op}; this tracker's passes that start inside it are bound as usual but not timed,
   * for warm-up runs and graph capture, whose first passes are many times slower than the rest. A
   * pass is inside {@code op} when it starts, while {@code op} runs, on the thread that runs {@code
   * op} or in a subtask forked inside it (a {@code StructuredTaskScope} subtask, a {@link
   * io.github.forwardcontext.structured.FanOut} subtask in either mode). Such a pass records
   * nothing: no timer count, no {@link #stats()} row, no report; its before-stop hook and its
   * observation do not run. {@link ForwardContext#current()} works in it as in any pass.
   *
   * <p>Other trackers' passes are still timed, and so are this tracker's passes on other threads.
   * Calls nest; timing resumes when {@code op} returns. An exception thrown by {@code op}
   * propagates unchanged.
   *
   * {@snippet class="io.github.forwardcontext.snippets.StagesSnippets" region="warmup"}
   *
   * @param op the operation whose passes are not timed
   */
  public void untimed(Runnable op) {
    Objects.requireNonNull(op, "op");
    Untimed.call(
        this,
        () -> {
          op.run();
          return null;
        });
  }

  /**
   * Calls {@code op} and returns its result; this tracker's passes that start inside it are bound
   * but not timed. See {@link #untimed(Runnable)}.
   *
   * @param op the operation whose passes are not timed
   * @param <R> the result type
   * @param <E> the type of the exception {@code op} may throw
   * @return the result of {@code op}
   * @throws E if {@code op} throws it
   */
  public <R, E extends Throwable> R untimed(ScopedValue.CallableOp<? extends R, E> op) throws E {
    Objects.requireNonNull(op, "op");
    return Untimed.call(this, op);
  }

  /**
   * {@return the rows of the report} One row per batch size with more than one timed pass (a single
   * pass is likely a warm-up), giving the count and the median in milliseconds, sorted by count,
   * largest first; batch sizes with equal counts keep the order in which they were first seen. The
   * row for the sizes beyond the cap, if any, has {@link BatchSizeStats#OTHER} as its batch size.
   *
   * <p>It reads only the counters in use: with 1024 batch sizes whose durations span three powers
   * of two, one call reads about 400,000 counters and allocates one 36 KiB scratch array besides
   * the rows.
   */
  public List<BatchSizeStats> stats() {
    return report.rows();
  }

  /**
   * {@return the report line for the current {@link #stats()}}, as it is logged: {@code Batchsize
   * forward time stats (batchsize, count, median_time(ms)): [(8, 120, 12.34), ...]}, with the
   * tracker's common tags named before the colon when it has some.
   */
  public String report() {
    return report.line();
  }

  /**
   * Releases this tracker's claim on its registry (see "Stages" above) and removes its {@value
   * #METER_NAME} timers from the registry, so that a tracker with the same tags can be built on it
   * again. Idempotent. A closed tracker still binds its passes and counts them in {@link #stats()},
   * but records nothing into the registry any more.
   */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    if (claim != null) {
      claim.release();
    }
    int count = seriesCount();
    Series[] all = Arrays.copyOf(ordered(), count);
    Series[] overflow = bins.overflowSeries();
    Series[] every = Arrays.copyOf(all, count + overflow.length);
    System.arraycopy(overflow, 0, every, count, overflow.length);
    timers.close(every);
  }

  boolean isClosed() {
    return closed;
  }

  @Override
  public String toString() {
    return "BatchSizeTracker[tags="
        + tags
        + ", batchSizes="
        + seriesCount()
        + ", maxBatchSizes="
        + maxBatchSizes
        + ", loggingInterval="
        + Duration.ofNanos(intervalNanos)
        + (closed ? ", closed" : "")
        + "]";
  }

  // ---------------------------------------------------------------------------------------------
  // The lookup when a pass is created; TimedPass has what runs when it runs.

  /** The series a context's pass is timed under, or {@code null} if it is not timed. */
  private Series seriesOf(ForwardContext context) {
    AttentionMetadata metadata = context.attnMetadata();
    if (metadata == null) {
      return null;
    }
    int batchSize = metadata.batchSize();
    if (batchSize < 0) {
      throw new IllegalArgumentException(
          "batchSize must be >= 0 but " + metadata.getClass().getName() + " reported " + batchSize);
    }
    return series(batchSize);
  }

  // Global tracking: ForwardContext.run and call come here when the start-up setting is on.
  void run(ForwardContext context, Runnable op) {
    checkConfigured();
    TimedPass.run(context, seriesOf(context), op);
  }

  <R, E extends Throwable> R call(ForwardContext context, ScopedValue.CallableOp<? extends R, E> op)
      throws E {
    checkConfigured();
    return TimedPass.call(context, seriesOf(context), op);
  }

  Clock clock() {
    return clock;
  }

  void clockFailed(Throwable e) {
    FailureLog.rethrowIfFatal(e);
    clockFailures.log(e);
  }

  @Override
  BatchSizeTracker tracker() {
    return this;
  }

  @Override
  int maxBatchSizes() {
    return maxBatchSizes;
  }

  @Override
  BatchSizeBins bins() {
    return bins;
  }

  @Override
  TimerRegistration timers() {
    return timers;
  }

  // Rare, and never on a pass's path: a lock keeps the count simple.
  synchronized void untimedScopeOpened() {
    untimedScopes++;
  }

  synchronized void untimedScopeClosed() {
    untimedScopes--;
  }

  /**
   * One forward pass to bind and time, from {@link BatchSizeTracker#where(int, AttentionMetadata)}.
   * Each {@code run} or {@code call} binds {@link #context()} like {@link ForwardContext#run} and,
   * when the context has attention metadata, records the operation's duration under its batch size,
   * also when the operation throws. A pass may be run any number of times, from any thread; each
   * run is timed on its own.
   */
  public static final class TrackedPass {
    private final ForwardContext context;
    private final Series series; // null: not timed (no attention metadata)

    TrackedPass(ForwardContext context, Series series) {
      this.context = context;
      this.series = series;
    }

    /** {@return the context this pass binds} */
    public ForwardContext context() {
      return context;
    }

    /** {@return whether running this pass records a timing (it has attention metadata)} */
    public boolean isTimed() {
      return series != null;
    }

    /**
     * Runs {@code op} with the context bound and times it. An exception thrown by {@code op}
     * propagates unchanged, after the pass is recorded.
     *
     * @param op the operation to run
     * @throws java.util.concurrent.StructureViolationException if {@code op} opened a structured
     *     task scope that it did not close
     */
    public void run(Runnable op) {
      Objects.requireNonNull(op, "op");
      TimedPass.run(context, series, op);
    }

    /**
     * Calls {@code op} with the context bound, times it and returns its result. An exception thrown
     * by {@code op}, checked or not, propagates unchanged, after the pass is recorded.
     *
     * @param op the operation to call
     * @param <R> the result type
     * @param <E> the type of the exception {@code op} may throw
     * @return the result of {@code op}
     * @throws E if {@code op} throws it
     * @throws java.util.concurrent.StructureViolationException if {@code op} opened a structured
     *     task scope that it did not close
     */
    public <R, E extends Throwable> R call(ScopedValue.CallableOp<? extends R, E> op) throws E {
      Objects.requireNonNull(op, "op");
      return TimedPass.call(context, series, op);
    }

    @Override
    public String toString() {
      return "TrackedPass[" + context + (series == null ? ", untimed" : "") + "]";
    }
  }

  public static final class Builder {
    private final MeterRegistry registry;
    private Tags tags = Tags.empty();
    private Clock clock = Clock.SYSTEM;
    private Duration loggingInterval = DEFAULT_INTERVAL;
    private int maxBatchSizes; // 0: the default, which depends on the histogram
    private Duration[] histogramBuckets; // null: no histogram
    private int[] batchSizeBins; // null: every batch size is a tag of its own
    private Consumer<? super ForwardContext> beforeClockStops;
    private ObservationRegistry observationRegistry;
    private ForwardPassObservationConvention observationConvention;
    private Executor reportExecutor = BatchSizeReport.OWN_THREAD;

    private Builder(MeterRegistry registry) {
      this.registry = registry;
    }

    /**
     * Adds common tags to every meter of this tracker, for example {@code tags("stage",
     * "denoise")}: the timers become {@code forward.pass{stage=denoise, batch.size=8}}, the pass
     * observations get the same low-cardinality keys, and the report line names them. Trackers of
     * different stages on one registry then keep separate timers. Calls add up; a key given again
     * takes the later value.
     *
     * @param keyValues keys and values, alternating: {@code key1, value1, key2, value2, ...}
     * @return this builder
     * @throws IllegalArgumentException if the number of strings is odd, a key is blank, or a key is
     *     the reserved {@value #BATCH_SIZE_TAG}
     */
    public Builder tags(String... keyValues) {
      this.tags = this.tags.and(TimerRegistration.checkedTags(keyValues));
      return this;
    }

    /**
     * Adds common tags to every meter of this tracker, as {@link #tags(String...)} does.
     *
     * @param tags the tags
     * @return this builder
     * @throws IllegalArgumentException if a key is blank or the reserved {@value #BATCH_SIZE_TAG}
     */
    public Builder tags(Iterable<Tag> tags) {
      this.tags = this.tags.and(TimerRegistration.checkedTags(tags));
      return this;
    }

    // Where the report is computed and logged; tests run it on their own thread.
    Builder reportExecutor(Executor executor) {
      this.reportExecutor = Objects.requireNonNull(executor, "executor");
      return this;
    }

    /**
     * Sets how often the report line is logged at most; {@link Duration#ZERO} logs after every pass
     * that finishes later than the last report. The default is 1000 seconds, as in FastVideo.
     *
     * @param loggingInterval the minimum time between two report lines
     * @return this builder
     * @throws IllegalArgumentException if {@code loggingInterval} is negative
     */
    public Builder loggingInterval(Duration loggingInterval) {
      Objects.requireNonNull(loggingInterval, "loggingInterval");
      if (loggingInterval.isNegative()) {
        throw new IllegalArgumentException(
            "loggingInterval must be >= 0 but was " + loggingInterval);
      }
      this.loggingInterval = loggingInterval;
      return this;
    }

    /**
     * Sets how many distinct batch sizes get a {@value #BATCH_SIZE_TAG} tag of their own: by
     * default 1024, or 256 when a {@linkplain #publishHistogram() histogram} is published. Passes
     * of further sizes are recorded under {@value #OTHER_TAG}.
     *
     * @param maxBatchSizes the cap on distinct batch-size tags
     * @return this builder
     * @throws IllegalArgumentException if {@code maxBatchSizes} is not positive
     */
    public Builder maxBatchSizes(int maxBatchSizes) {
      if (maxBatchSizes <= 0) {
        throw new IllegalArgumentException(
            "maxBatchSizes must be positive but was " + maxBatchSizes);
      }
      this.maxBatchSizes = maxBatchSizes;
      return this;
    }

    /**
     * Sets the clock whose {@link Clock#monotonicTime()} times the passes and paces the report
     * ({@link Clock#SYSTEM} by default). Tests pass a {@code MockClock}. A clock that throws does
     * not break a pass: the pass runs untimed and the failure is logged (see "Failures" above).
     *
     * @param clock the clock
     * @return this builder
     */
    public Builder clock(Clock clock) {
      this.clock = Objects.requireNonNull(clock, "clock");
      return this;
    }

    /**
     * Sets a hook that runs after each timed operation and before the clock stops, for instance to
     * wait for an accelerator's queued kernels as vLLM does, so that the timing covers the device
     * work. The hook receives the pass's context and runs while that context is still bound, so
     * {@link ForwardContext#current()} works in it too (to find the device stream to synchronise,
     * say). A hook that throws is logged (once, then quietly) and the pass goes on: see "Failures"
     * above.
     *
     * @param hook the hook to run before the clock stops
     * @return this builder
     */
    public Builder beforeClockStops(Consumer<? super ForwardContext> hook) {
      this.beforeClockStops = Objects.requireNonNull(hook, "hook");
      return this;
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
    public Builder observationRegistry(ObservationRegistry registry) {
      this.observationRegistry = Objects.requireNonNull(registry, "registry");
      return this;
    }

    /**
     * Replaces the {@linkplain DefaultForwardPassObservationConvention default convention} that
     * names the pass observations and their key values.
     *
     * @param convention the convention
     * @return this builder
     */
    public Builder observationConvention(ForwardPassObservationConvention convention) {
      this.observationConvention = Objects.requireNonNull(convention, "convention");
      return this;
    }

    /**
     * Publishes a histogram of each {@value #METER_NAME} timer with the {@linkplain
     * ForwardPassHistograms#defaultBuckets() default buckets} (a 1-2-5 series from 0.5 ms to 5
     * minutes, 19 bounds), so that a server such as Prometheus can estimate quantiles per batch
     * size across processes. Off by default. Lowers the default {@link #maxBatchSizes(int)
     * maxBatchSizes} to 256; see "Fleet-wide quantiles" in the class description for the number of
     * series. The timers are registered with it; the passes cost what they cost without it.
     *
     * @return this builder
     */
    public Builder publishHistogram() {
      return histogramBuckets(ForwardPassHistograms.defaultBuckets().toArray(Duration[]::new));
    }

    /**
     * Publishes a histogram of each {@value #METER_NAME} timer with these bucket bounds, as {@link
     * #publishHistogram()} does with its default ones. Each bound is one more series per batch
     * size.
     *
     * @param buckets the bucket bounds: positive and strictly increasing
     * @return this builder
     * @throws IllegalArgumentException if {@code buckets} is empty, or a bound is not positive, not
     *     greater than the one before it, or greater than {@code Long.MAX_VALUE} nanoseconds
     */
    public Builder histogramBuckets(Duration... buckets) {
      this.histogramBuckets = ForwardPassHistograms.validated(buckets).toArray(Duration[]::new);
      return this;
    }

    /**
     * Groups the batch sizes into bins for the {@value #BATCH_SIZE_TAG} tag, as vLLM pads a batch
     * to the next CUDA-graph capture size: a pass is tagged with the smallest bin at or above its
     * batch size, and with {@value #OTHER_TAG} above the largest bin. {@link #stats()} and the
     * report keep the exact sizes. By default every size is a tag of its own.
     *
     * @param bins the bins: not negative and strictly increasing
     * @return this builder
     * @throws IllegalArgumentException if {@code bins} is empty, or a bin is negative or not
     *     greater than the one before it
     */
    public Builder batchSizeBins(int... bins) {
      this.batchSizeBins = BatchSizeBins.validated(bins);
      return this;
    }

    /**
     * {@return a new tracker with this configuration} It claims its registry and tags: see "Stages"
     * in the class description.
     *
     * @throws IllegalStateException if another live tracker records into the registry with the same
     *     tags, or with a different histogram setting; the message names the meter, the tags and
     *     the settings
     */
    public BatchSizeTracker build() {
      return new BatchSizeTracker(this, null);
    }
  }
}
