package io.github.forwardcontext;

import io.micrometer.core.instrument.Clock;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.noop.NoopTimer;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Binds forward contexts like {@link ForwardContext#where(int, AttentionMetadata)} and times each
 * pass, grouped by batch size: as the Micrometer timer {@value #METER_NAME} tagged {@value
 * #BATCH_SIZE_TAG}, and as the periodic report line of FastVideo's {@code forward_context}.
 *
 * <p>Unless otherwise specified, passing {@code null} to a method of this class throws {@link
 * NullPointerException}. Instances are thread-safe; one tracker usually serves a whole pipeline.
 *
 * <h2>Timing a pass</h2>
 *
 * {@snippet :
 * BatchSizeTracker tracker = BatchSizeTracker.builder(registry).build();
 *
 * for (int t : timesteps) {
 *   latents = tracker.where(t, attnMetadata, request).call(() -> transformer.forward(latents));
 * }
 * }
 *
 * A pass is timed only when its attention metadata is present. Its {@linkplain
 * AttentionMetadata#batchSize() batch size} is read when the pass is created, before the operation
 * runs, and must not be negative. Each binding keeps its own start time, so nested tracked passes
 * are timed independently. A pass that throws is timed too, and its exception propagates unchanged.
 * The clock is {@link Clock#monotonicTime()} of the {@linkplain Builder#clock(Clock) builder's
 * clock}.
 *
 * <h2>What is recorded</h2>
 *
 * <ul>
 *   <li>A Micrometer {@link Timer} named {@value #METER_NAME} per batch size, tagged {@value
 *       #BATCH_SIZE_TAG} with the decimal batch size. Timers are registered once per batch size and
 *       kept; the hot path only records. Percentiles and histograms are left to the application (a
 *       {@code MeterFilter}), as Micrometer advises libraries.
 *   <li>At most {@link Builder#maxBatchSizes(int) maxBatchSizes} distinct batch sizes get a tag of
 *       their own. Passes of further sizes are recorded under {@value #BATCH_SIZE_TAG}{@code
 *       =}{@value #OTHER_TAG}, and one warning is logged. Nothing is dropped.
 *   <li>A per-batch-size histogram for the {@linkplain #stats() median}: counts in log-linear
 *       buckets at most 1/128 wide (HdrHistogram's layout at two significant digits), durations
 *       clamped at one hour. No list of samples is kept. The counts are striped by thread (twice
 *       the number of processors, rounded up to a power of two, at most 64 stripes), and a stripe
 *       allocates 1 KiB per power of two of durations it sees, 36 KiB at most. Memory is therefore
 *       bounded by {@code (maxBatchSizes + 1) * stripes * 37 KiB}, however many passes are timed;
 *       passes within a few powers of two take a few KiB per stripe.
 * </ul>
 *
 * <h2>The report</h2>
 *
 * Every {@link Builder#loggingInterval(Duration) loggingInterval} (1000 s by default), the first
 * pass to finish after the interval has passed logs the line
 *
 * <pre>
 * {@code Batchsize forward time stats (batchsize, count, median_time(ms)): [(8, 120, 12.34), ...]}
 * </pre>
 *
 * through {@link System.Logger} at {@code INFO}, at most once per interval even when many threads
 * finish at the same moment. The rows are {@link #stats()}; an empty report is not logged.
 *
 * <h2>Failures</h2>
 *
 * A failure in the {@linkplain Builder#beforeClockStops(Runnable) before-stop hook}, in Micrometer
 * or in the report never breaks a forward pass: the first of each kind is logged at {@code
 * WARNING}, later ones at {@code DEBUG}, and the pass goes on.
 *
 * <h2>Global tracking</h2>
 *
 * FastVideo switches tracking on with a module flag. Here the start-up setting, the system property
 * {@code forwardcontext.log-batchsize-interval} or else the environment variable {@code
 * FORWARDCONTEXT_LOG_BATCHSIZE_INTERVAL}, in seconds, makes every {@link ForwardContext#run
 * ForwardContext.run} and {@link ForwardContext#call ForwardContext.call} (and so every {@code
 * ForwardContext.where(..).run(..)}) a tracked pass on Micrometer's {@linkplain
 * io.micrometer.core.instrument.Metrics#globalRegistry global registry} with that logging interval,
 * when it is {@code >= 0}. Contexts re-bound by {@link ForwardContext#wrap(Runnable)} and its
 * siblings stay untracked: the pass that handed them over is the one timed. It is read once, when
 * {@code ForwardContext} is initialised; a value that is not a decimal number fails that
 * initialisation with an {@link IllegalArgumentException} naming the setting and the value. {@link
 * #global()} returns that tracker.
 */
public final class BatchSizeTracker {

  /** The name of the timers: {@value}. */
  public static final String METER_NAME = "forward.pass";

  /** The tag that carries the batch size: {@value}. */
  public static final String BATCH_SIZE_TAG = "batch.size";

  /** The tag value for the batch sizes beyond the cap: {@value}. */
  public static final String OTHER_TAG = "other";

  static final String REPORT_PREFIX =
      "Batchsize forward time stats (batchsize, count, median_time(ms)): ";

  private static final Duration DEFAULT_INTERVAL = Duration.ofSeconds(1000);
  private static final int DEFAULT_MAX_BATCH_SIZES = 1024;

  private static final System.Logger LOG = System.getLogger(BatchSizeTracker.class.getName());
  private static final VarHandle LAST_REPORT;

  static {
    try {
      LAST_REPORT =
          MethodHandles.lookup()
              .findVarHandle(BatchSizeTracker.class, "lastReportNanos", long.class);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  private final MeterRegistry registry;
  private final Clock clock;
  private final long intervalNanos;
  private final int maxBatchSizes;
  private final Runnable beforeClockStops; // null: none
  private final FailureLog hookFailures = new FailureLog("before-stop hook");
  private final FailureLog meterFailures = new FailureLog("recording");
  private final FailureLog reportFailures = new FailureLog("report");

  private volatile Index index = Index.EMPTY;
  private volatile Series other; // created when the cap is first exceeded

  @SuppressWarnings("unused") // through LAST_REPORT
  private volatile long lastReportNanos;

  private BatchSizeTracker(Builder builder) {
    this.registry = builder.registry;
    this.clock = builder.clock;
    this.intervalNanos = saturatedNanos(builder.loggingInterval);
    this.maxBatchSizes = builder.maxBatchSizes;
    this.beforeClockStops = builder.beforeClockStops;
    this.lastReportNanos = clock.monotonicTime();
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
   * {@return the global tracker, if the start-up setting switched global tracking on} See "Global
   * tracking" above.
   */
  public static Optional<BatchSizeTracker> global() {
    return Optional.ofNullable(ForwardContext.globalTracker());
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
    timedRun(context, seriesOf(context), op);
  }

  <R, E extends Throwable> R call(ForwardContext context, ScopedValue.CallableOp<? extends R, E> op)
      throws E {
    return timedCall(context, seriesOf(context), op);
  }

  // Static and apart from TrackedPass.run/call, so that those stay small enough to be inlined
  // where the pass is created: the TrackedPass then never reaches the heap.
  private static void timedRun(ForwardContext context, Series series, Runnable op) {
    if (series == null) {
      context.bindRun(op);
      return;
    }
    long start = series.tracker.clock.monotonicTime();
    try {
      context.bindRun(op);
    } finally {
      series.tracker.stop(series, start);
    }
  }

  private static <R, E extends Throwable> R timedCall(
      ForwardContext context, Series series, ScopedValue.CallableOp<? extends R, E> op) throws E {
    if (series == null) {
      return context.bindCall(op);
    }
    long start = series.tracker.clock.monotonicTime();
    try {
      return context.bindCall(op);
    } finally {
      series.tracker.stop(series, start);
    }
  }

  /**
   * {@return the rows of the report} One row per batch size with more than one timed pass (a single
   * pass is likely a warm-up), giving the count and the median in milliseconds, sorted by count,
   * largest first; batch sizes with equal counts keep the order in which they were first seen. The
   * row for the sizes beyond the cap, if any, has {@link BatchSizeStats#OTHER} as its batch size.
   */
  public List<BatchSizeStats> stats() {
    List<BatchSizeStats> rows = new ArrayList<>();
    for (Series series : index.ordered) {
      addRow(rows, series);
    }
    Series overflow = other;
    if (overflow != null) {
      addRow(rows, overflow);
    }
    rows.sort(Comparator.comparingLong(BatchSizeStats::count).reversed());
    return List.copyOf(rows);
  }

  /**
   * {@return the report line for the current {@link #stats()}}, as it is logged: {@code Batchsize
   * forward time stats (batchsize, count, median_time(ms)): [(8, 120, 12.34), ...]}
   */
  public String report() {
    return REPORT_PREFIX + stats();
  }

  @Override
  public String toString() {
    return "BatchSizeTracker[batchSizes="
        + index.ordered.length
        + ", maxBatchSizes="
        + maxBatchSizes
        + ", loggingInterval="
        + Duration.ofNanos(intervalNanos)
        + "]";
  }

  // ---------------------------------------------------------------------------------------------
  // The hot path: the series lookup when a pass is created, and stop() when its operation ends.

  Series series(int batchSize) {
    Index current = index;
    Series series = current.get(batchSize);
    if (series != null) {
      return series;
    }
    Series overflow = other;
    if (overflow != null && current.ordered.length >= maxBatchSizes) {
      return overflow;
    }
    return addSeries(batchSize);
  }

  private synchronized Series addSeries(int batchSize) {
    Index current = index;
    Series series = current.get(batchSize);
    if (series != null) {
      return series;
    }
    if (current.ordered.length < maxBatchSizes) {
      series = new Series(this, batchSize, timer(Integer.toString(batchSize)));
      index = current.with(series);
      return series;
    }
    if (other == null) {
      LOG.log(
          System.Logger.Level.WARNING,
          "Batch size {0} exceeds the cap of {1} distinct batch sizes (maxBatchSizes); it and "
              + "every further new batch size are recorded under "
              + BATCH_SIZE_TAG
              + "="
              + OTHER_TAG,
          batchSize,
          maxBatchSizes);
      other = new Series(this, BatchSizeStats.OTHER, timer(OTHER_TAG));
    }
    return other;
  }

  private Timer timer(String tag) {
    try {
      return Timer.builder(METER_NAME)
          .description("Duration of model forward passes, by batch size")
          .tag(BATCH_SIZE_TAG, tag)
          .register(registry);
    } catch (RuntimeException e) {
      meterFailures.log(e);
      return new NoopTimer(
          new Meter.Id(METER_NAME, Tags.of(BATCH_SIZE_TAG, tag), null, null, Meter.Type.TIMER));
    }
  }

  void stop(Series series, long start) {
    Runnable hook = beforeClockStops;
    if (hook != null) {
      try {
        hook.run();
      } catch (RuntimeException e) {
        hookFailures.log(e);
      }
    }
    long end = clock.monotonicTime();
    long nanos = end - start;
    series.record(nanos); // first: a Micrometer failure must not lose the sample
    try {
      series.timer.record(nanos, TimeUnit.NANOSECONDS);
    } catch (RuntimeException e) {
      meterFailures.log(e);
    }
    if (end - lastReportNanos > intervalNanos) {
      maybeReport(end);
    }
  }

  private void maybeReport(long now) {
    long last = lastReportNanos;
    // Only the thread whose CAS moves the mark logs: at most one report per interval.
    if (now - last <= intervalNanos || !LAST_REPORT.compareAndSet(this, last, now)) {
      return;
    }
    try {
      if (LOG.isLoggable(System.Logger.Level.INFO)) {
        List<BatchSizeStats> rows = stats();
        if (!rows.isEmpty()) {
          LOG.log(System.Logger.Level.INFO, REPORT_PREFIX + rows);
        }
      }
    } catch (RuntimeException e) {
      reportFailures.log(e);
    }
  }

  private static void addRow(List<BatchSizeStats> rows, Series series) {
    long[] snapshot = series.snapshot();
    long count = DurationHistogram.count(snapshot);
    if (count > 1) {
      rows.add(
          new BatchSizeStats(
              series.batchSize, count, DurationHistogram.medianNanos(snapshot, count) / 1e6));
    }
  }

  private static long saturatedNanos(Duration duration) {
    return duration.compareTo(Duration.ofNanos(Long.MAX_VALUE)) >= 0
        ? Long.MAX_VALUE
        : duration.toNanos();
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
      timedRun(context, series, op);
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
      return timedCall(context, series, op);
    }

    @Override
    public String toString() {
      return "TrackedPass[" + context + (series == null ? ", untimed" : "") + "]";
    }
  }

  /** The timer and duration counts of one batch size (or of the sizes beyond the cap). */
  static final class Series extends DurationHistogram {
    final BatchSizeTracker tracker;
    final int batchSize;
    final Timer timer;

    Series(BatchSizeTracker tracker, int batchSize, Timer timer) {
      this.tracker = tracker;
      this.batchSize = batchSize;
      this.timer = timer;
    }
  }

  /**
   * Batch size to series, for a lock-free lookup whose cost does not depend on how many sizes there
   * are: open addressing with linear probing, replaced whole on insert (inserts happen once per
   * batch size, under the tracker's lock).
   */
  private static final class Index {
    static final Index EMPTY = new Index(new Series[2], new Series[0]);

    final Series[] slots; // null: empty slot; probed by Series.batchSize, no separate key array
    final Series[] ordered; // in the order the batch sizes were first seen

    Index(Series[] slots, Series[] ordered) {
      this.slots = slots;
      this.ordered = ordered;
    }

    Series get(int batchSize) {
      Series[] table = slots;
      int mask = table.length - 1;
      for (int i = slot(batchSize, mask); ; i = (i + 1) & mask) {
        Series series = table[i];
        if (series == null || series.batchSize == batchSize) {
          return series;
        }
      }
    }

    Index with(Series series) {
      Series[] newOrdered = Arrays.copyOf(ordered, ordered.length + 1);
      newOrdered[ordered.length] = series;
      int capacity = Integer.highestOneBit(newOrdered.length * 4 - 1); // load factor <= 1/2
      Series[] newSlots = new Series[capacity];
      for (Series s : newOrdered) {
        int i = slot(s.batchSize, capacity - 1);
        while (newSlots[i] != null) {
          i = (i + 1) & (capacity - 1);
        }
        newSlots[i] = s;
      }
      return new Index(newSlots, newOrdered);
    }

    private static int slot(int batchSize, int mask) {
      int h = batchSize * 0x9E3779B9;
      return (h ^ (h >>> 16)) & mask;
    }
  }

  /** Logs the first failure of a kind at WARNING and the later ones at DEBUG. */
  private static final class FailureLog {
    private final String what;
    private final AtomicBoolean warned = new AtomicBoolean();

    FailureLog(String what) {
      this.what = what;
    }

    void log(RuntimeException e) {
      if (!warned.get() && warned.compareAndSet(false, true)) {
        LOG.log(
            System.Logger.Level.WARNING,
            "Forward-pass "
                + what
                + " failed; the forward pass goes on. Further "
                + what
                + " failures are logged at DEBUG.",
            e);
      } else {
        LOG.log(System.Logger.Level.DEBUG, "Forward-pass " + what + " failed again", e);
      }
    }
  }

  /**
   * Configures a {@link BatchSizeTracker}. Obtained from {@link BatchSizeTracker#builder}; not
   * thread-safe.
   */
  public static final class Builder {
    private final MeterRegistry registry;
    private Clock clock = Clock.SYSTEM;
    private Duration loggingInterval = DEFAULT_INTERVAL;
    private int maxBatchSizes = DEFAULT_MAX_BATCH_SIZES;
    private Runnable beforeClockStops;

    private Builder(MeterRegistry registry) {
      this.registry = registry;
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
     * Sets how many distinct batch sizes get a {@value #BATCH_SIZE_TAG} tag of their own (1024 by
     * default). Passes of further sizes are recorded under {@value #OTHER_TAG}.
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
     * ({@link Clock#SYSTEM} by default). Tests pass a {@code MockClock}.
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
     * work. A hook that throws is logged (once, then quietly) and the pass goes on.
     *
     * @param hook the hook to run before the clock stops
     * @return this builder
     */
    public Builder beforeClockStops(Runnable hook) {
      this.beforeClockStops = Objects.requireNonNull(hook, "hook");
      return this;
    }

    /** {@return a new tracker with this configuration} */
    public BatchSizeTracker build() {
      return new BatchSizeTracker(this);
    }
  }
}
