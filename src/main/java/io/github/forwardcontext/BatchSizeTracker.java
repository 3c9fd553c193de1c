package io.github.forwardcontext;

import io.github.forwardcontext.internal.Durations;
import io.github.forwardcontext.internal.FailureLog;
import io.micrometer.core.instrument.Clock;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

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

  private static final int DEFAULT_MAX_BATCH_SIZES = 1024;
  private static final int DEFAULT_MAX_BATCH_SIZES_WITH_HISTOGRAM = 256;

  private final MeterRegistry registry;
  private final Tags tags;
  final Clock clock;
  final long intervalNanos;
  private final int maxBatchSizes;
  final DecoratedPass decorated; // a hook or observations: the longer path; else null
  private final RuntimeException misconfiguration; // a malformed global setting, or null
  private final BatchSizeBins bins;
  final TimerRegistration timers;
  final BatchSizeReport report;
  final FailureLog meterFailures =
      new FailureLog(LOG, "Forward-pass recording failed; the forward pass goes on");
  private final FailureLog clockFailures =
      new FailureLog(LOG, "Forward-pass clock failed; the forward pass goes on");
  private final RegistryClaims.Claim claim;
  // 1 with a hook or observations, plus 2 per open untimed(..) scope of this tracker on any thread:
  // a pass takes the plain path only while it is 0 (TimedPass).
  volatile int detours;

  volatile long lastReportNanos; // when the last report was started; CAS through TimedPass

  private BatchSizeTracker(Builder builder, RuntimeException misconfiguration) {
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
    this.detours = decorated == null ? 0 : 1;
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
  static BatchSizeTracker misconfigured(RuntimeException cause) {
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
   * Returns a pass like {@link #where(int, AttentionMetadata)} whose context also holds a forward
   * batch.
   *
   * @param currentTimestep the timestep of the pass
   * @param attnMetadata the attention metadata of the pass; may be {@code null} (not timed)
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
   * <p>Tasks handed over from inside {@code op} ({@link ForwardContext#wrap(Runnable)} and its
   * siblings, {@link ThreadLocalContexts}, {@link Microbatches}) are inside it too while {@code op}
   * runs.
   *
   * <p>Other trackers' passes are still timed, and so are this tracker's passes on other threads: a
   * pass that a {@code DynamicBatcher} runs on its own thread is timed, even for an item submitted
   * from inside {@code op}, so a warm-up runs its passes directly, not through a batcher. Calls
   * nest; timing resumes when {@code op} returns. An exception thrown by {@code op} propagates
   * unchanged. {@code op} runs inside a scoped-value binding of its own: a {@code
   * StructuredTaskScope} opened outside {@code op} cannot fork from inside it (the JDK's {@code
   * StructureViolationException}).
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
   * With 1024 batch sizes whose durations span three powers of two, one call reads about 400,000
   * counters and allocates one 36 KiB scratch array besides the rows.
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
   * Removes this tracker's {@value #METER_NAME} timers from its registry, then releases its claim
   * on the registry (see {@linkplain io.github.forwardcontext##stages stages}), so that once this
   * method returns a tracker with the same tags can be built on it again. Idempotent. A closed
   * tracker still binds its passes and counts them in {@link #stats()}, but records nothing into
   * the registry any more.
   */
  @Override
  public void close() {
    synchronized (insertLock()) { // no new size registers a timer meanwhile
      if (timers.closed()) {
        return;
      }
      timers.close(this);
    }
    if (claim != null) {
      claim.release(); // last: until here, no tracker with these tags can be built
    }
  }

  @Override
  public String toString() {
    return String.format(
        "BatchSizeTracker[tags=%s, batchSizes=%d, maxBatchSizes=%d, loggingInterval=%s%s]",
        tags,
        seriesCount(),
        maxBatchSizes,
        Duration.ofNanos(intervalNanos),
        timers.closed() ? ", closed" : "");
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
  TrackedPass globalPass(ForwardContext context) {
    checkConfigured();
    return new TrackedPass(context, seriesOf(context));
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
    detours += 2;
  }

  synchronized void untimedScopeClosed() {
    detours -= 2;
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

  /**
   * Configures a {@link BatchSizeTracker}. Obtained from {@link BatchSizeTracker#builder}; not
   * thread-safe.
   */
  public static final class Builder extends TrackerSettings {
    private Builder(MeterRegistry registry) {
      super(registry);
    }

    /**
     * {@return a new tracker with this configuration} It claims its registry and tags: see
     * {@linkplain io.github.forwardcontext##stages stages}.
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
