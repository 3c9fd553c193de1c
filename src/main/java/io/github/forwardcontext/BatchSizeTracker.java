package io.github.forwardcontext;

import io.micrometer.core.instrument.Clock;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationRegistry;
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
import java.util.function.Consumer;

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
 * {@snippet class="io.github.forwardcontext.snippets.TrackerSnippets" region="timing"}
 *
 * A pass is timed only when its attention metadata is present. Its {@linkplain
 * AttentionMetadata#batchSize() batch size} is read when the pass is created, before the operation
 * runs, and must not be negative. Each binding keeps its own start time, so nested tracked passes
 * are timed independently. A pass that throws is timed too, and its exception propagates unchanged.
 * The clock is {@link Clock#monotonicTime()} of the {@linkplain Builder#clock(Clock) builder's
 * clock}; a duration that comes out negative (a clock that went backwards) is recorded as zero, in
 * the timer and in {@link #stats()} alike.
 *
 * <h2>What is recorded</h2>
 *
 * <ul>
 *   <li>A Micrometer {@link Timer} named {@value #METER_NAME} per batch size, tagged {@value
 *       #BATCH_SIZE_TAG} with the decimal batch size. Timers are registered once per batch size and
 *       kept; the hot path only records. Histograms are off unless the application asks for them
 *       ({@link Builder#publishHistogram()}), as Micrometer advises libraries; see "Fleet-wide
 *       quantiles" below.
 *   <li>At most {@link Builder#maxBatchSizes(int) maxBatchSizes} distinct batch sizes get a tag of
 *       their own. Passes of further sizes are recorded under {@value #BATCH_SIZE_TAG}{@code
 *       =}{@value #OTHER_TAG}, and one warning is logged. Nothing is dropped.
 *   <li>A per-batch-size histogram for the {@linkplain #stats() median}: counts in log-linear
 *       buckets at most 1/128 wide (HdrHistogram's layout at two significant digits), durations
 *       clamped at one hour. No list of samples is kept. The counts are striped by thread (twice
 *       the number of processors, rounded up to a power of two, at most 64 stripes), and a stripe
 *       allocates 1 KiB per power of two of durations it sees, 36 KiB at most, besides a table of
 *       {@code stripes * 36} references per batch size. Finding a batch size's counts is one array
 *       access for sizes below 65,536 (an array of at most 256 KiB that grows by doubling) and a
 *       hash probe above. Memory is therefore bounded by {@code (maxBatchSizes + 1) * stripes * (36
 *       KiB + 144 B) + 256 KiB}, however many passes are timed; passes within a few powers of two
 *       take a few KiB per stripe. For example, 1024 batch sizes on 2 processors (4 stripes) whose
 *       passes span 3 powers of two take {@code 1025 * 4 * (3 KiB + 144 B)}, about 12.6 MiB, at
 *       most, and less when fewer threads record each size.
 * </ul>
 *
 * <h2>Fleet-wide quantiles and the number of series</h2>
 *
 * The median of {@link #stats()} belongs to one process and cannot be combined with another's. With
 * {@link Builder#publishHistogram()} each timer also publishes cumulative bucket counts (Micrometer
 * service level objectives: classic buckets for Prometheus, explicit buckets for OTLP), which a
 * server adds up across processes:
 *
 * {@snippet class="io.github.forwardcontext.snippets.FleetHistogramsSnippets" region="publish"}
 *
 * In Prometheus, the fleet's p99 per batch size is then {@code histogram_quantile(0.99, sum by (le,
 * batch_size) (rate(forward_pass_seconds_bucket[1m])))}.
 *
 * <p>Each tag value of {@value #BATCH_SIZE_TAG} is one timer, exported as {@code count}, {@code
 * sum} and {@code max} (3 series in Prometheus) and, with a histogram, one series per bucket bound
 * plus {@code +Inf}. At most {@code maxBatchSizes} sizes and {@value #OTHER_TAG} get a tag, so a
 * tracker creates at most
 *
 * <pre>{@code (maxBatchSizes + 1) * 3}                 series without a histogram
 * {@code (maxBatchSizes + 1) * (buckets + 4)}       series with one</pre>
 *
 * For example, the default cap of 1024 gives {@code 1025 * 3 = 3,075} series; {@code
 * publishHistogram()} lowers the default cap to 256 and has 19 bounds, so {@code 257 * (19 + 4) =
 * 5,911} series. An explicit {@link Builder#maxBatchSizes(int) maxBatchSizes(1024)} with the
 * default buckets would allow {@code 1025 * 23 = 23,575}.
 *
 * <p>{@link Builder#batchSizeBins(int...)} bounds the tags by the bins instead: at most {@code
 * (bins + 1) * (buckets + 4)} series, for example {@code (10 + 1) * 23 = 253} with the bins 1, 2,
 * 4, ..., 512 and the default buckets, however many sizes there are. {@link #stats()} keeps every
 * exact size up to {@code maxBatchSizes} of them; the passes of further sizes are counted in its
 * {@code other} row, and still tagged with their bin.
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
 * through {@link System.Logger} at {@code INFO}, under the logger name {@code
 * io.github.forwardcontext.BatchSizeTracker}, at most once per interval even when many threads
 * finish at the same moment. The rows are {@link #stats()}; an empty report is not logged.
 *
 * <p>Without a logging provider the JDK sends {@code System.Logger} to {@code java.util.logging}.
 * In an SLF4J application (Logback, Log4j 2 through SLF4J), add {@code
 * org.slf4j:slf4j-jdk-platform-logging} to the runtime class path: the line then arrives through
 * SLF4J, at {@code INFO}, under the same logger name, with the application's layout.
 *
 * <h2>Failures</h2>
 *
 * A failure in the tracker's own machinery never breaks a forward pass, nor changes its outcome:
 * the operation's result, or its own exception, is what the caller gets. The rules:
 *
 * <ul>
 *   <li>The {@linkplain Builder#beforeClockStops before-stop hook}: anything it throws, an {@link
 *       Error} or a checked exception thrown sneakily included, is logged and the pass is recorded.
 *       The one exception is a {@link VirtualMachineError} (such as {@link OutOfMemoryError}),
 *       which propagates, but only after the pass is recorded.
 *   <li>The {@linkplain Builder#clock clock}: if it throws when the pass starts, the operation runs
 *       untimed; if it throws when the pass ends, that pass is not recorded. Either way the failure
 *       is logged.
 *   <li>Micrometer: a timer that fails to record is logged; the pass is still counted in {@link
 *       #stats()}. A timer that fails to register (a {@code MeterFilter} that throws, say) is
 *       logged with its tag, the size's passes are counted in {@link #stats()} only, and
 *       registration is tried again from a later pass of that size: after 1 s, then after twice as
 *       long each time, up to once a minute. Once it succeeds, the timer counts from there on.
 *   <li>The report, the observations and the logging backend itself: a logger whose backend throws
 *       is ignored.
 * </ul>
 *
 * The first failure of each kind is logged at {@code WARNING}, later ones at {@code DEBUG}; for
 * timer registration, the first failure of each tag. A registration retry holds only its own size's
 * lock: the passes of other sizes, and new sizes, never wait for it.
 *
 * <h2>Observations</h2>
 *
 * With an {@linkplain Builder#observationRegistry observation registry}, each timed pass is also a
 * Micrometer {@link Observation} ({@link ForwardPassObservationDocumentation#FORWARD_PASS}), whose
 * scope is open while the pass runs: with a tracing bridge, the pass is a span, a child of the
 * caller's span, and the spans made inside the pass are its children. Without one, no observation
 * object is made and the pass costs what it costs without.
 *
 * <h2>Global tracking</h2>
 *
 * FastVideo switches tracking on with a module flag. Here the start-up setting, the system property
 * {@code forwardcontext.log-batchsize-interval} or else the environment variable {@code
 * FORWARDCONTEXT_LOG_BATCHSIZE_INTERVAL}, in seconds, makes every {@link ForwardContext#run
 * ForwardContext.run} and {@link ForwardContext#call ForwardContext.call} (and so every {@code
 * ForwardContext.where(..).run(..)}) a tracked pass on Micrometer's {@linkplain
 * io.micrometer.core.instrument.Metrics#globalRegistry global registry} with that logging interval,
 * when it is {@code >= 0}. Such a pass then checks its batch size like any tracked pass: a negative
 * one is an {@link IllegalArgumentException} before the operation runs. Contexts re-bound by {@link
 * ForwardContext#wrap(Runnable)} and its siblings, and the bindings of {@link Microbatches}, stay
 * untracked: the pass that handed them over, or split itself, is the one timed. The setting is read
 * once, when {@code ForwardContext} is initialised. A value that is not a decimal number is logged
 * at {@code ERROR}, and every pass that global tracking would time fails with an {@link
 * IllegalStateException} naming the setting and the value, as does {@link #global()}; reading
 * contexts and explicitly built trackers keep working. {@link #global()} returns the global
 * tracker.
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
  private static final int DEFAULT_MAX_BATCH_SIZES_WITH_HISTOGRAM = 256;

  // Batch sizes below this go through a direct array, as a Timer[] indexed by size would; larger
  // ones through an open-addressing table. 2^16 references are 256 KiB at most.
  static final int DIRECT_LIMIT = 1 << 16;
  private static final long FIRST_RETRY_NANOS = 1_000_000_000L;
  private static final long MAX_RETRY_NANOS = 60_000_000_000L;

  private static final System.Logger LOG = System.getLogger(BatchSizeTracker.class.getName());
  private static final VarHandle LAST_REPORT;
  private static final VarHandle SLOT = MethodHandles.arrayElementVarHandle(Series[].class);

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
  private final Consumer<? super ForwardContext> beforeClockStops; // null: none
  private final ObservationRegistry observationRegistry; // null: no observations
  private final ForwardPassObservationConvention observationConvention; // null: the default
  private final boolean decorated; // a hook or observations: the passes take the longer path
  private final IllegalArgumentException misconfiguration; // a malformed global setting, or null
  private final Duration[] histogramBuckets; // null: no histogram
  private final int[] batchSizeBins; // null: every batch size is a tag of its own
  private final FailureLog hookFailures = new FailureLog("before-stop hook");
  private final FailureLog meterFailures = new FailureLog("recording");
  private final FailureLog registrationFailures = new FailureLog("timer registration");
  private final FailureLog clockFailures = new FailureLog("clock");
  private final FailureLog reportFailures = new FailureLog("report");
  private final FailureLog observationFailures = new FailureLog("observation");

  // The index, written under this tracker's lock, read without it. Every array only grows (a
  // bigger copy replaces it), so an insert costs amortised O(1) whatever the number of sizes.
  private volatile Series[] direct = new Series[64]; // [batchSize] for sizes < DIRECT_LIMIT
  private volatile Series[] large = new Series[16]; // open addressing, load factor <= 1/2
  private int largeCount;
  private volatile Series[] ordered = new Series[16]; // in the order sizes were first seen
  private volatile int seriesCount; // published after the series is in every array
  private volatile Series other; // created when the cap is first exceeded
  private volatile Series[] otherByBin; // with bins, past the cap: [bin] its overflow, or null

  @SuppressWarnings("unused") // through LAST_REPORT
  private volatile long lastReportNanos;

  private BatchSizeTracker(Builder builder, IllegalArgumentException misconfiguration) {
    this.registry = builder.registry;
    this.clock = builder.clock;
    this.intervalNanos = saturatedNanos(builder.loggingInterval);
    this.histogramBuckets = builder.histogramBuckets;
    this.batchSizeBins = builder.batchSizeBins;
    this.maxBatchSizes =
        builder.maxBatchSizes > 0
            ? builder.maxBatchSizes
            : histogramBuckets != null
                ? DEFAULT_MAX_BATCH_SIZES_WITH_HISTOGRAM
                : DEFAULT_MAX_BATCH_SIZES;
    this.beforeClockStops = builder.beforeClockStops;
    this.observationRegistry = builder.observationRegistry;
    this.observationConvention = builder.observationConvention;
    this.decorated = beforeClockStops != null || observationRegistry != null;
    this.misconfiguration = misconfiguration;
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
    timedRun(context, seriesOf(context), op);
  }

  <R, E extends Throwable> R call(ForwardContext context, ScopedValue.CallableOp<? extends R, E> op)
      throws E {
    checkConfigured();
    return timedCall(context, seriesOf(context), op);
  }

  // Static and apart from TrackedPass.run/call, so that those stay small enough to be inlined
  // where the pass is created: the TrackedPass then never reaches the heap.
  private static void timedRun(ForwardContext context, Series series, Runnable op) {
    if (series == null) {
      context.bindRun(op);
      return;
    }
    BatchSizeTracker tracker = series.tracker;
    if (tracker.decorated) {
      tracker.decoratedCall(
          context,
          series,
          () -> {
            op.run();
            return null;
          });
      return;
    }
    long start;
    try {
      start = tracker.clock.monotonicTime();
    } catch (Throwable e) {
      tracker.clockFailed(e);
      context.bindRun(op); // untimed: the clock cannot time it
      return;
    }
    try {
      context.bindRun(op);
    } finally {
      tracker.stop(series, start);
    }
  }

  private static <R, E extends Throwable> R timedCall(
      ForwardContext context, Series series, ScopedValue.CallableOp<? extends R, E> op) throws E {
    if (series == null) {
      return context.bindCall(op);
    }
    BatchSizeTracker tracker = series.tracker;
    if (tracker.decorated) {
      return tracker.decoratedCall(context, series, op);
    }
    long start;
    try {
      start = tracker.clock.monotonicTime();
    } catch (Throwable e) {
      tracker.clockFailed(e);
      return context.bindCall(op); // untimed: the clock cannot time it
    }
    try {
      return context.bindCall(op);
    } finally {
      tracker.stop(series, start);
    }
  }

  /** A pass with a before-stop hook, an observation, or both. */
  private <R, E extends Throwable> R decoratedCall(
      ForwardContext context, Series series, ScopedValue.CallableOp<? extends R, E> op) throws E {
    Observation observation = startObservation(context, series);
    boolean timed = true;
    long start = 0;
    try {
      start = clock.monotonicTime();
    } catch (Throwable e) {
      clockFailed(e);
      timed = false;
    }
    Hook hook = beforeClockStops == null ? null : new Hook(this, context);
    Throwable failure = null;
    Observation.Scope scope = openScope(observation);
    try {
      if (hook == null) {
        return context.bindCall(op);
      }
      // The hook runs inside the binding, so that it can read the pass's context.
      return context.bindCall(
          () -> {
            try {
              return op.call();
            } finally {
              hook.run();
            }
          });
    } catch (Throwable e) {
      failure = e;
      throw e;
    } finally {
      if (timed) {
        stop(series, start);
      }
      if (scope != null) {
        scope.close();
      }
      stopObservation(observation, failure);
      if (hook != null) {
        hook.rethrowFatal();
      }
    }
  }

  /** Runs the before-stop hook once; keeps a VirtualMachineError to rethrow after recording. */
  private static final class Hook {
    private final BatchSizeTracker tracker;
    private final ForwardContext context;
    private VirtualMachineError fatal;

    Hook(BatchSizeTracker tracker, ForwardContext context) {
      this.tracker = tracker;
      this.context = context;
    }

    void run() {
      try {
        tracker.beforeClockStops.accept(context);
      } catch (VirtualMachineError e) {
        fatal = e;
      } catch (Throwable e) {
        tracker.hookFailures.log(e);
      }
    }

    void rethrowFatal() {
      if (fatal != null) {
        throw fatal;
      }
    }
  }

  private Observation startObservation(ForwardContext context, Series series) {
    if (observationRegistry == null) {
      return null;
    }
    try {
      return ForwardPassObservationDocumentation.FORWARD_PASS
          .observation(
              observationConvention,
              DefaultForwardPassObservationConvention.INSTANCE,
              () -> new ForwardPassObservationContext(context, series.tag),
              observationRegistry)
          .start();
    } catch (VirtualMachineError e) {
      throw e;
    } catch (Throwable e) {
      observationFailures.log(e);
      return null;
    }
  }

  private Observation.Scope openScope(Observation observation) {
    if (observation == null) {
      return null;
    }
    // What was current before: a handler that throws while the scope opens (or closes) may leave
    // the pass's scope current on this thread, which would leak it past the pass.
    Observation.Scope previous = observationRegistry.getCurrentObservationScope();
    try {
      return new GuardedScope(
          observation.openScope(), previous, observationRegistry, observationFailures);
    } catch (VirtualMachineError e) {
      throw e;
    } catch (Throwable e) {
      restoreScope(observationRegistry, previous);
      observationFailures.log(e);
      return null;
    }
  }

  private static void restoreScope(ObservationRegistry registry, Observation.Scope previous) {
    try {
      registry.setCurrentObservationScope(previous);
    } catch (VirtualMachineError e) {
      throw e;
    } catch (Throwable ignored) {
      // The failure that brought us here is logged.
    }
  }

  private void stopObservation(Observation observation, Throwable failure) {
    if (observation == null) {
      return;
    }
    try {
      if (failure != null) {
        observation.error(failure);
      }
      observation.stop();
    } catch (VirtualMachineError e) {
      throw e;
    } catch (Throwable e) {
      observationFailures.log(e);
    }
  }

  /** An observation scope whose close never throws into the pass. */
  private record GuardedScope(
      Observation.Scope scope,
      Observation.Scope previous,
      ObservationRegistry registry,
      FailureLog failures)
      implements Observation.Scope {
    @Override
    public Observation getCurrentObservation() {
      return scope.getCurrentObservation();
    }

    @Override
    public void close() {
      try {
        scope.close();
      } catch (VirtualMachineError e) {
        throw e;
      } catch (Throwable e) {
        restoreScope(registry, previous);
        failures.log(e);
      }
    }

    @Override
    public void reset() {
      scope.reset();
    }

    @Override
    public void makeCurrent() {
      scope.makeCurrent();
    }
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
    int count = seriesCount;
    Series[] all = ordered;
    long[] scratch = new long[DurationHistogram.OCTAVES * DurationHistogram.SUB_BUCKETS];
    List<BatchSizeStats> rows = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      addRow(rows, all[i], scratch);
    }
    Series[] byBin = otherByBin;
    if (byBin != null) {
      addOverflowRow(rows, byBin, scratch);
    } else if (other != null) {
      addRow(rows, other, scratch);
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
        + seriesCount
        + ", maxBatchSizes="
        + maxBatchSizes
        + ", loggingInterval="
        + Duration.ofNanos(intervalNanos)
        + "]";
  }

  // ---------------------------------------------------------------------------------------------
  // The hot path: the series lookup when a pass is created, and stop() when its operation ends.

  Series series(int batchSize) {
    Series series = find(batchSize);
    if (series != null) {
      return series;
    }
    Series overflow = other; // set only once the cap is reached: no new size gets a series then
    if (overflow == null) {
      return addSeries(batchSize);
    }
    return batchSizeBins == null ? overflow : overflowOfBin(binIndex(batchSize));
  }

  /** The series of a batch size that has one: one array access below DIRECT_LIMIT. */
  private Series find(int batchSize) {
    Series[] table = direct;
    if (batchSize < table.length) {
      return table[batchSize];
    }
    return batchSize >= DIRECT_LIMIT ? findLarge(large, batchSize) : null;
  }

  private static Series findLarge(Series[] table, int batchSize) {
    int mask = table.length - 1;
    for (int i = slot(batchSize, mask); ; i = (i + 1) & mask) {
      Series series = (Series) SLOT.getAcquire(table, i);
      if (series == null || series.batchSize == batchSize) {
        return series;
      }
    }
  }

  private static int slot(int batchSize, int mask) {
    int h = batchSize * 0x9E3779B9;
    return (h ^ (h >>> 16)) & mask;
  }

  private synchronized Series addSeries(int batchSize) {
    Series series = find(batchSize);
    if (series != null) {
      return series;
    }
    if (seriesCount >= maxBatchSizes) {
      if (other == null) {
        warn(
            "Batch size "
                + batchSize
                + " exceeds the cap of "
                + maxBatchSizes
                + " distinct batch sizes (maxBatchSizes); it and every further new batch size"
                + (batchSizeBins == null
                    ? " are recorded under " + BATCH_SIZE_TAG + "=" + OTHER_TAG
                    : " are counted in the report's 'other' row, still tagged with their bin"));
        if (batchSizeBins == null) {
          Series overflow = new Series(this, BatchSizeStats.OTHER, OTHER_TAG);
          register(overflow);
          other = overflow;
        } else {
          otherByBin = new Series[batchSizeBins.length + 1];
          other = overflowOfBin(binIndex(batchSize));
        }
      }
      return batchSizeBins == null ? other : overflowOfBin(binIndex(batchSize));
    }
    series = new Series(this, batchSize, tagOf(batchSize));
    register(series);
    if (batchSize < DIRECT_LIMIT) {
      Series[] table = direct;
      if (batchSize >= table.length) {
        int length = Math.min(DIRECT_LIMIT, Math.max(table.length * 2, ceilPow2(batchSize + 1)));
        table = Arrays.copyOf(table, length);
        table[batchSize] = series;
        direct = table;
      } else {
        SLOT.setRelease(table, batchSize, series);
      }
    } else {
      insertLarge(series);
    }
    Series[] all = ordered;
    int count = seriesCount;
    if (count == all.length) {
      all = Arrays.copyOf(all, count * 2);
      all[count] = series;
      ordered = all;
    } else {
      SLOT.setRelease(all, count, series);
    }
    seriesCount = count + 1;
    return series;
  }

  private void insertLarge(Series series) {
    Series[] table = large;
    if ((largeCount + 1) * 2 > table.length) {
      Series[] bigger = new Series[table.length * 2];
      for (Series s : table) {
        if (s != null) {
          put(bigger, s);
        }
      }
      put(bigger, series);
      large = bigger;
    } else {
      put(table, series);
    }
    largeCount++;
  }

  private static void put(Series[] table, Series series) {
    int mask = table.length - 1;
    int i = slot(series.batchSize, mask);
    while (table[i] != null) {
      i = (i + 1) & mask;
    }
    SLOT.setRelease(table, i, series);
  }

  private static int ceilPow2(int n) {
    return n <= 1 ? 1 : Integer.highestOneBit(n - 1) << 1;
  }

  /** With bins: the index of the smallest bin at or above the size, or the number of bins. */
  private int binIndex(int batchSize) {
    int i = Arrays.binarySearch(batchSizeBins, batchSize);
    return i >= 0 ? i : -i - 1;
  }

  /**
   * With bins, past the cap: the series that counts a bin's overflow sizes, for the report's {@code
   * other} row, and records into the bin's timer.
   */
  private Series overflowOfBin(int bin) {
    Series series = (Series) SLOT.getAcquire(otherByBin, bin);
    return series != null ? series : addOverflowOfBin(bin);
  }

  private synchronized Series addOverflowOfBin(int bin) {
    Series[] byBin = otherByBin;
    Series series = byBin[bin];
    if (series == null) {
      String tag = bin < batchSizeBins.length ? Integer.toString(batchSizeBins[bin]) : OTHER_TAG;
      series = new Series(this, BatchSizeStats.OTHER, tag);
      register(series);
      SLOT.setRelease(byBin, bin, series);
    }
    return series;
  }

  /** One {@code other} row for the overflow of every bin. */
  private static void addOverflowRow(List<BatchSizeStats> rows, Series[] byBin, long[] scratch) {
    long[] total = new long[scratch.length];
    long present = 0;
    for (Series series : byBin) {
      if (series == null) {
        continue;
      }
      long octaves = series.merge(scratch);
      for (long o = octaves; o != 0; o &= o - 1) {
        int base = Long.numberOfTrailingZeros(o) * DurationHistogram.SUB_BUCKETS;
        for (int s = 0; s < DurationHistogram.SUB_BUCKETS; s++) {
          total[base + s] += scratch[base + s];
        }
      }
      present |= octaves;
    }
    long count = DurationHistogram.count(total, present);
    if (count > 1) {
      rows.add(
          new BatchSizeStats(
              BatchSizeStats.OTHER,
              count,
              DurationHistogram.medianNanos(total, present, count) / 1e6));
    }
  }

  /**
   * The {@value #BATCH_SIZE_TAG} value of a batch size: the size itself or, with bins, the smallest
   * bin at or above it, or {@value #OTHER_TAG} above the largest. Sizes of one bin register the
   * same timer (Micrometer returns the registered one) and keep counts of their own.
   */
  private String tagOf(int batchSize) {
    int[] bins = batchSizeBins;
    if (bins == null) {
      return Integer.toString(batchSize);
    }
    int i = Arrays.binarySearch(bins, batchSize);
    int bin = i >= 0 ? i : -i - 1;
    return bin < bins.length ? Integer.toString(bins[bin]) : OTHER_TAG;
  }

  /**
   * Registers the series' timer. On failure the series records into its duration counts only, and
   * registration is tried again from a later pass of that size, after 1 s, then after twice as long
   * each time, up to once a minute.
   */
  private void register(Series series) {
    try {
      Timer.Builder builder =
          Timer.builder(METER_NAME)
              .description("Duration of model forward passes, by batch size")
              .tag(BATCH_SIZE_TAG, series.tag);
      if (histogramBuckets != null) {
        builder.serviceLevelObjectives(histogramBuckets);
      }
      series.timer = builder.register(registry);
    } catch (VirtualMachineError e) {
      throw e;
    } catch (Throwable e) {
      long backoff =
          series.retryBackoffNanos == 0
              ? FIRST_RETRY_NANOS
              : Math.min(MAX_RETRY_NANOS, series.retryBackoffNanos * 2);
      series.retryBackoffNanos = backoff;
      series.retryAtNanos = safeNow() + backoff;
      boolean first = !series.registrationWarned;
      series.registrationWarned = true;
      registrationFailures.log(
          first,
          "Could not register the timer "
              + METER_NAME
              + "{"
              + BATCH_SIZE_TAG
              + "="
              + series.tag
              + "}: its passes are counted in stats() but not in the registry until registration"
              + " succeeds; retrying in "
              + Duration.ofNanos(backoff)
              + (first ? ". Further failures of this tag are logged at DEBUG." : ""),
          e);
    }
  }

  /** {@return the series' timer, registered again if its retry is due, or {@code null}} */
  private Timer retryRegistration(Series series, long now) {
    if (now - series.retryAtNanos < 0) {
      return null; // not due: no lock taken
    }
    // The series' own lock: a retry never holds up the passes of other sizes, nor new sizes.
    synchronized (series) {
      if (series.timer == null && now - series.retryAtNanos >= 0) {
        register(series);
      }
      return series.timer;
    }
  }

  private long safeNow() {
    try {
      return clock.monotonicTime();
    } catch (VirtualMachineError e) {
      throw e;
    } catch (Throwable e) {
      clockFailures.log(e);
      return 0;
    }
  }

  private void clockFailed(Throwable e) {
    if (e instanceof VirtualMachineError fatal) {
      throw fatal;
    }
    clockFailures.log(e);
  }

  void stop(Series series, long start) {
    long end;
    try {
      end = clock.monotonicTime();
    } catch (Throwable e) {
      clockFailed(e); // the pass's duration is unknown: nothing is recorded
      return;
    }
    // One rule for both: a clock that went backwards makes a zero-length pass, counted in the
    // median and in Micrometer alike (Micrometer would drop a negative amount).
    long nanos = Math.max(0L, end - start);
    series.record(nanos); // first: a Micrometer failure must not lose the sample
    Timer timer = series.timer;
    if (timer == null) {
      timer = retryRegistration(series, end);
    }
    if (timer != null) {
      try {
        timer.record(nanos, TimeUnit.NANOSECONDS);
      } catch (VirtualMachineError e) {
        throw e;
      } catch (Throwable e) {
        meterFailures.log(e);
      }
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
    } catch (VirtualMachineError e) {
      throw e;
    } catch (Throwable e) {
      reportFailures.log(e);
    }
  }

  private static void warn(String message) {
    try {
      LOG.log(System.Logger.Level.WARNING, message);
    } catch (VirtualMachineError e) {
      throw e;
    } catch (Throwable ignored) {
      // A logging backend that throws must not break the forward pass that logs.
    }
  }

  private static void addRow(List<BatchSizeStats> rows, Series series, long[] scratch) {
    long present = series.merge(scratch);
    long count = DurationHistogram.count(scratch, present);
    if (count > 1) {
      rows.add(
          new BatchSizeStats(
              series.batchSize,
              count,
              DurationHistogram.medianNanos(scratch, present, count) / 1e6));
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
    final String tag;
    volatile Timer timer; // null while registration failed; retried from the passes
    volatile long retryAtNanos; // written under the tracker's lock, then the series' own
    long retryBackoffNanos; // likewise
    boolean registrationWarned; // likewise: each tag's first failure is a WARNING

    Series(BatchSizeTracker tracker, int batchSize, String tag) {
      this.tracker = tracker;
      this.batchSize = batchSize;
      this.tag = tag;
    }
  }

  /**
   * Logs the first failure of a kind at WARNING and the later ones at DEBUG. A logging backend that
   * throws is ignored: logging a failure must not become one.
   */
  private static final class FailureLog {
    private final String what;
    private final AtomicBoolean warned = new AtomicBoolean();

    FailureLog(String what) {
      this.what = what;
    }

    void log(Throwable e) {
      log("Forward-pass " + what + " failed; the forward pass goes on", e);
    }

    void log(String message, Throwable e) {
      boolean first = !warned.get() && warned.compareAndSet(false, true);
      log(
          first,
          first ? message + ". Further " + what + " failures are logged at DEBUG." : message,
          e);
    }

    /** Logs at WARNING if {@code warn}, else at DEBUG. */
    void log(boolean warn, String message, Throwable e) {
      try {
        if (warn) {
          LOG.log(System.Logger.Level.WARNING, message, e);
        } else {
          LOG.log(System.Logger.Level.DEBUG, message, e);
        }
      } catch (VirtualMachineError fatal) {
        throw fatal;
      } catch (Throwable ignored) {
        // The logging backend failed too; the forward pass goes on regardless.
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
    private int maxBatchSizes; // 0: the default, which depends on the histogram
    private Duration[] histogramBuckets; // null: no histogram
    private int[] batchSizeBins; // null: every batch size is a tag of its own
    private Consumer<? super ForwardContext> beforeClockStops;
    private ObservationRegistry observationRegistry;
    private ForwardPassObservationConvention observationConvention;

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
     * @throws IllegalArgumentException if {@code buckets} is empty, or a bound is not positive or
     *     not greater than the one before it
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
      Objects.requireNonNull(bins, "bins");
      if (bins.length == 0) {
        throw new IllegalArgumentException("bins must hold at least one bin but was empty");
      }
      for (int i = 0; i < bins.length; i++) {
        if (bins[i] < 0) {
          throw new IllegalArgumentException("bins[" + i + "] must be >= 0 but was " + bins[i]);
        }
        if (i > 0 && bins[i] <= bins[i - 1]) {
          throw new IllegalArgumentException(
              "bins must be strictly increasing but bins["
                  + i
                  + "] was "
                  + bins[i]
                  + " after "
                  + bins[i - 1]);
        }
      }
      this.batchSizeBins = bins.clone();
      return this;
    }

    /** {@return a new tracker with this configuration} */
    public BatchSizeTracker build() {
      return new BatchSizeTracker(this, null);
    }
  }
}
