package io.github.forwardcontext;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Arrays;
import java.util.Objects;

/**
 * The {@value BatchSizeTracker#BATCH_SIZE_TAG} tag of each batch size, and where the passes of the
 * sizes beyond the cap go: the tag bins of {@link BatchSizeTracker.Builder#batchSizeBins(int...)}
 * and the overflow series, one per bin or a single {@value BatchSizeTracker#OTHER_TAG} one.
 *
 * <p>Without bins, every size is a tag of its own and the overflow is one series tagged {@value
 * BatchSizeTracker#OTHER_TAG}. With bins, a size is tagged with the smallest bin at or above it, or
 * {@value BatchSizeTracker#OTHER_TAG} above the largest bin; sizes of one bin register the same
 * timer (Micrometer returns the registered one) and keep counts of their own, and past the cap each
 * bin has an overflow series of its own that records into the bin's timer and counts in the
 * report's {@code other} row.
 */
final class BatchSizeBins {
  private static final VarHandle SLOT = MethodHandles.arrayElementVarHandle(Series[].class);

  private final BatchSizeTracker tracker;
  private final int[] bins; // null: every batch size is a tag of its own
  private volatile Series other; // the first overflow series, set once the cap is first exceeded
  private volatile Series[] byBin; // with bins, past the cap: [bin] its overflow, or null

  BatchSizeBins(BatchSizeTracker tracker, int[] bins) {
    this.tracker = tracker;
    this.bins = bins;
  }

  /** {@return the bins, checked and copied} */
  static int[] validated(int... bins) {
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
    return bins.clone();
  }

  /** {@return whether sizes are tagged by bin} */
  boolean hasBins() {
    return bins != null;
  }

  /** {@return the tag value of a batch size} */
  String tagOf(int batchSize) {
    return bins == null ? Integer.toString(batchSize) : tagOfBin(binIndex(batchSize));
  }

  /** {@return whether the cap was exceeded: no new size gets a series of its own from then on} */
  boolean capReached() {
    return other != null;
  }

  /**
   * {@return the overflow series a size beyond the cap is recorded in} Only once the cap is
   * reached.
   */
  Series overflowOf(int batchSize) {
    return bins == null ? other : overflowOfBin(binIndex(batchSize));
  }

  /**
   * Called under the index's lock when a new size finds the cap reached: creates the overflow on
   * the first call and returns the size's overflow series.
   */
  Series openOverflow(int batchSize) {
    if (other == null) {
      if (bins == null) {
        Series overflow = new Series(tracker, BatchSizeStats.OTHER, BatchSizeTracker.OTHER_TAG);
        tracker.timers().register(overflow);
        other = overflow;
        return overflow;
      }
      byBin = new Series[bins.length + 1];
      other = overflowOfBin(binIndex(batchSize));
    }
    return overflowOf(batchSize);
  }

  /** {@return the overflow series of every bin, or of the single overflow, that exist so far} */
  Series[] overflowSeries() {
    Series[] perBin = byBin;
    if (perBin != null) {
      return perBin.clone(); // entries may be null
    }
    Series overflow = other;
    return overflow == null ? new Series[0] : new Series[] {overflow};
  }

  /** With bins: the index of the smallest bin at or above the size, or the number of bins. */
  private int binIndex(int batchSize) {
    int i = Arrays.binarySearch(bins, batchSize);
    return i >= 0 ? i : -i - 1;
  }

  private String tagOfBin(int bin) {
    return bin < bins.length ? Integer.toString(bins[bin]) : BatchSizeTracker.OTHER_TAG;
  }

  private Series overflowOfBin(int bin) {
    Series series = (Series) SLOT.getAcquire(byBin, bin);
    return series != null ? series : addOverflowOfBin(bin);
  }

  private Series addOverflowOfBin(int bin) {
    synchronized (tracker.insertLock()) {
      Series[] perBin = byBin;
      Series series = perBin[bin];
      if (series == null) {
        series = new Series(tracker, BatchSizeStats.OTHER, tagOfBin(bin));
        tracker.timers().register(series);
        SLOT.setRelease(perBin, bin, series);
      }
      return series;
    }
  }
}
