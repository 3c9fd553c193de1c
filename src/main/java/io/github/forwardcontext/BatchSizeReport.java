package io.github.forwardcontext;

import io.github.forwardcontext.internal.FailureLog;
import io.micrometer.core.instrument.Tags;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A tracker's report: the rows of {@link BatchSizeTracker#stats()}, the line that shows them, and
 * when that line is logged.
 *
 * <p>The pass that finishes after the logging interval has passed moves the tracker's mark with one
 * CAS (so at most one report per interval, however many threads finish at once) and hands the
 * report to the report executor: by default a new virtual thread that inherits nothing from the
 * pass (no thread-locals, no bindings), so that no pass waits for the report (about 0.9 ms at 1,024
 * sizes) and no request's context (its MDC, say) tags the line.
 */
final class BatchSizeReport {
  static final String PREFIX = "Batchsize forward time stats (batchsize, count, median_time(ms)): ";

  /** The default report executor: one fresh virtual thread per report. */
  static final Executor OWN_THREAD =
      task ->
          Thread.ofVirtual()
              .name("forward-context-report")
              .inheritInheritableThreadLocals(false)
              .start(task);

  private final BatchSizeTracker tracker;
  private final Executor executor;
  private final String prefix;
  private final AtomicBoolean inFlight = new AtomicBoolean(); // a report is being made
  private final FailureLog failures =
      new FailureLog(BatchSizeTracker.LOG, "Forward-pass report failed; the passes go on");

  BatchSizeReport(BatchSizeTracker tracker, Executor executor) {
    this.tracker = tracker;
    this.executor = executor;
    this.prefix = prefix(tracker.tags());
  }

  /**
   * {@return the report line's prefix} The seed's for a tracker without common tags; with tags, the
   * line names them before the colon, so that two stages' lines can be told apart.
   */
  static String prefix(Tags tags) {
    if (tags.stream().findAny().isEmpty()) {
      return PREFIX;
    }
    return PREFIX.substring(0, PREFIX.length() - 2) + " for " + TimerRegistration.text(tags) + ": ";
  }

  /**
   * Hands one report to the executor; the tracker has moved its mark, so this one is due. While a
   * report is still being made, a due one is skipped: with a short interval, reports never pile up
   * on their threads, and the next pass due after it ends makes the next one.
   */
  void submit() {
    if (!inFlight.compareAndSet(false, true)) {
      return;
    }
    try {
      executor.execute(this::log);
    } catch (Throwable e) {
      inFlight.set(false);
      FailureLog.rethrowIfFatal(e);
      failures.log(e);
    }
  }

  /** {@return the report line for the current rows} */
  String line() {
    return prefix + rows();
  }

  private void log() {
    try {
      if (BatchSizeTracker.LOG.isLoggable(System.Logger.Level.INFO)) {
        List<BatchSizeStats> rows = rows();
        if (!rows.isEmpty()) {
          BatchSizeTracker.LOG.log(System.Logger.Level.INFO, prefix + rows);
        }
      }
    } catch (Throwable e) {
      FailureLog.rethrowIfFatal(e);
      failures.log(e);
    } finally {
      inFlight.set(false);
    }
  }

  /** The rows of {@link BatchSizeTracker#stats()}. */
  List<BatchSizeStats> rows() {
    int count = tracker.seriesCount();
    Series[] all = tracker.ordered();
    long[] scratch = new long[DurationHistogram.OCTAVES * DurationHistogram.SUB_BUCKETS];
    List<BatchSizeStats> rows = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      addRow(rows, all[i], scratch);
    }
    addOverflowRow(rows, tracker.bins().overflowSeries(), scratch);
    rows.sort(Comparator.comparingLong(BatchSizeStats::count).reversed());
    return List.copyOf(rows);
  }

  private static void addRow(List<BatchSizeStats> rows, Series series, long[] scratch) {
    addRow(rows, series.batchSize, scratch, series.merge(scratch));
  }

  /** Adds the row of these counts, unless they hold a single pass (likely a warm-up) or none. */
  private static void addRow(List<BatchSizeStats> rows, int batchSize, long[] sums, long present) {
    long count = DurationHistogram.count(sums, present);
    if (count > 1) {
      rows.add(
          new BatchSizeStats(
              batchSize, count, DurationHistogram.medianNanos(sums, present, count) / 1e6));
    }
  }

  /** One {@code other} row for the sizes beyond the cap, whichever overflow series counted them. */
  private static void addOverflowRow(List<BatchSizeStats> rows, Series[] overflow, long[] scratch) {
    if (overflow.length == 0) {
      return;
    }
    long[] total = new long[scratch.length];
    long present = 0;
    for (Series series : overflow) {
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
    addRow(rows, BatchSizeStats.OTHER, total, present);
  }
}
