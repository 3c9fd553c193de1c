package io.github.forwardcontext;

import io.github.forwardcontext.internal.FailureLog;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Arrays;

/**
 * Finds a tracker's {@link Series} by batch size, and creates the series of a new size up to the
 * tracker's cap (past it, {@link BatchSizeBins} says where a size goes). Finding is one array
 * access for sizes below {@value #DIRECT_LIMIT}, an open-addressing probe above. Lookups take no
 * lock; inserts are made under the index's own lock and published with release stores, so a lookup
 * sees a series only once it is complete. Every array only grows (a bigger copy replaces it), so an
 * insert costs amortised O(1) whatever the number of sizes.
 *
 * <p>{@link BatchSizeTracker} extends this class rather than holding an index: the lookup made when
 * a pass is created then reads the arrays from the tracker itself, with no extra dependent load.
 */
abstract class BatchSizeIndex {
  // Batch sizes below this go through a direct array, as a Timer[] indexed by size would; larger
  // ones through an open-addressing table. 2^16 references are 256 KiB at most.
  static final int DIRECT_LIMIT = 1 << 16;

  private static final VarHandle SLOT = MethodHandles.arrayElementVarHandle(Series[].class);

  private volatile Series[] direct = new Series[64]; // [batchSize] for sizes < DIRECT_LIMIT
  private volatile Series[] large = new Series[16]; // open addressing, load factor <= 1/2
  private int largeCount; // under the lock
  private volatile Series[] ordered = new Series[16]; // in the order sizes were first seen
  private volatile int seriesCount; // published after the series is in every array

  /** {@return the series a pass of this batch size is timed under, created if it is new} */
  final Series series(int batchSize) {
    Series series = find(batchSize);
    if (series != null) {
      return series;
    }
    // Once the cap is reached no new size gets a series of its own.
    return bins().capReached() ? bins().overflowOf(batchSize) : addSeries(batchSize);
  }

  private Series addSeries(int batchSize) {
    synchronized (insertLock()) {
      Series series = find(batchSize);
      if (series != null) {
        return series;
      }
      int count = seriesCount();
      if (count >= maxBatchSizes()) {
        if (!bins().capReached()) {
          FailureLog.log(
              BatchSizeTracker.LOG,
              System.Logger.Level.WARNING,
              "Batch size "
                  + batchSize
                  + " would be distinct batch size number "
                  + (count + 1)
                  + ", beyond the cap of maxBatchSizes = "
                  + maxBatchSizes()
                  + " distinct sizes; it and every further new batch size"
                  + (bins().hasBins()
                      ? " are counted in the report's 'other' row, still tagged with their bin"
                      : " are recorded under "
                          + BatchSizeTracker.BATCH_SIZE_TAG
                          + "="
                          + BatchSizeTracker.OTHER_TAG));
        }
        return bins().openOverflow(batchSize);
      }
      series = new Series(tracker(), batchSize, bins().tagOf(batchSize));
      timers().register(series);
      insert(series);
      return series;
    }
  }

  abstract BatchSizeTracker tracker();

  abstract int maxBatchSizes();

  abstract BatchSizeBins bins();

  abstract TimerRegistration timers();

  /** {@return the series of a batch size that has one, or {@code null}} */
  final Series find(int batchSize) {
    Series[] table = direct;
    if (batchSize < table.length) {
      return table[batchSize];
    }
    return batchSize >= DIRECT_LIMIT ? findLarge(large, batchSize) : null;
  }

  /** {@return how many batch sizes have a series of their own} */
  final int seriesCount() {
    return seriesCount;
  }

  /**
   * {@return the series in the order their sizes were first seen} Only the first {@code count}
   * entries are set, {@code count} being a {@link #seriesCount()} read before this call.
   */
  final Series[] ordered() {
    return ordered;
  }

  /** The lock that inserts, and the decisions that go with them, are made under. */
  final Object insertLock() {
    return this;
  }

  /**
   * Adds the series of a batch size that has none; the caller holds {@link #insertLock()} and has
   * checked with {@link #find(int)} that the size is absent.
   */
  final void insert(Series series) {
    assert Thread.holdsLock(insertLock());
    int batchSize = series.batchSize;
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

  private static int slot(int batchSize, int mask) {
    int h = batchSize * 0x9E3779B9;
    return (h ^ (h >>> 16)) & mask;
  }

  private static int ceilPow2(int n) {
    return n <= 1 ? 1 : Integer.highestOneBit(n - 1) << 1;
  }
}
