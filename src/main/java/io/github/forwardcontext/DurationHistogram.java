package io.github.forwardcontext;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * The pass durations of one batch size, as counts in log-linear buckets: what the median of the
 * report is computed from, in bounded memory and with one atomic add per pass.
 *
 * <p>Why not HdrHistogram, which Micrometer already brings: its recording path is not thread-safe
 * without a lock (or, in its concurrent variants, four atomic operations), and its histogram object
 * spans several cache lines that every record touches. A tracked pass must cost little more than
 * the Micrometer timer it also records into, for 1 or 1024 batch sizes and from several threads at
 * once; this layout touches three cache lines and makes one uncontended atomic add. It is the same
 * bucketing as HdrHistogram's with two significant digits.
 *
 * <h2>Buckets</h2>
 *
 * Values (nanoseconds, clamped to [0, {@value #HIGHEST_NANOS}], one hour) fall into octaves of 128
 * buckets each. Octave 0 holds 0 to 127 exactly. Octave {@code o >= 1} holds [2^(o+6), 2^(o+7)) in
 * buckets 2^(o-1) wide, so a bucket is at most 1/128 of its values wide and its midpoint is within
 * 0.4% of any value in it. 36 octaves reach one hour.
 *
 * <h2>Memory</h2>
 *
 * Counts are striped by thread, so that threads recording the same batch size at once rarely share
 * a cache line; each stripe allocates an octave's 128 counters (1 KiB) when it first records a
 * value in that octave. The bound is {@code stripes * 36 KiB} plus a table of {@code stripes * 36}
 * references; passes whose durations span a few octaves take a few KiB per stripe.
 *
 * <p>Not final: a tracker's per-batch-size series extends it, which saves the hot path one
 * dependent load.
 */
class DurationHistogram {
  static final long HIGHEST_NANOS = 3_600_000_000_000L; // one hour
  static final int SUB_BUCKETS = 128;
  static final int OCTAVES = 36; // octave of HIGHEST_NANOS: 63 - 6 - nlz = 35

  static final int STRIPES =
      Math.min(64, Integer.highestOneBit(Runtime.getRuntime().availableProcessors() * 4 - 1));

  private static final VarHandle COUNT = MethodHandles.arrayElementVarHandle(long[].class);
  private static final VarHandle SEGMENT = MethodHandles.arrayElementVarHandle(long[][].class);

  // [stripe * OCTAVES + octave] -> that octave's 128 counters, allocated on first use.
  private final long[][] segments = new long[STRIPES * OCTAVES][];

  /**
   * Records one duration; thread-safe and lock-free. A negative duration (a clock that went
   * backwards) counts as zero, a duration beyond one hour as one hour.
   */
  void record(long nanos) {
    long value = Math.clamp(nanos, 0L, HIGHEST_NANOS);
    int octave = octave(value);
    int stripe = (int) Thread.currentThread().threadId() & (STRIPES - 1);
    int segmentIndex = stripe * OCTAVES + octave;
    long[] segment = segments[segmentIndex];
    if (segment == null) {
      segment = allocate(segmentIndex);
    }
    COUNT.getAndAdd(segment, subBucket(value, octave), 1L);
  }

  private long[] allocate(int segmentIndex) {
    long[] fresh = new long[SUB_BUCKETS];
    long[] winner = (long[]) SEGMENT.compareAndExchange(segments, segmentIndex, null, fresh);
    return winner == null ? fresh : winner;
  }

  /**
   * Adds up the stripes' counts into {@code sums} ({@code [octave * SUB_BUCKETS + subBucket]}),
   * writing only the octaves some stripe has counts for, and returns those octaves as a bit mask
   * (bit {@code o} for octave {@code o}). The other octaves of {@code sums} are left as they were,
   * so one scratch array serves every series of a report without being cleared. Only the segments
   * in use are read: a series whose passes span three octaves costs three segments per stripe.
   */
  long merge(long[] sums) {
    long present = 0;
    for (int i = 0; i < segments.length; i++) {
      long[] segment = (long[]) SEGMENT.getAcquire(segments, i);
      if (segment == null) {
        continue;
      }
      int octave = i % OCTAVES;
      int base = octave * SUB_BUCKETS;
      long bit = 1L << octave;
      if ((present & bit) == 0) {
        present |= bit;
        for (int s = 0; s < SUB_BUCKETS; s++) {
          sums[base + s] = (long) COUNT.getOpaque(segment, s);
        }
      } else {
        for (int s = 0; s < SUB_BUCKETS; s++) {
          sums[base + s] += (long) COUNT.getOpaque(segment, s);
        }
      }
    }
    return present;
  }

  /** {@return the number of durations in the octaves of {@code present} of merged {@code sums}} */
  static long count(long[] sums, long present) {
    long count = 0;
    for (long octaves = present; octaves != 0; octaves &= octaves - 1) {
      int base = Long.numberOfTrailingZeros(octaves) * SUB_BUCKETS;
      for (int s = 0; s < SUB_BUCKETS; s++) {
        count += sums[base + s];
      }
    }
    return count;
  }

  /**
   * The median of merged {@code sums}, as {@link #medianNanos(long[], long)} computes it, walking
   * only the octaves of {@code present}.
   */
  static double medianNanos(long[] sums, long present, long count) {
    if (count == 0) {
      return Double.NaN;
    }
    long lowRank = (count - 1) / 2; // zero-based ranks of the two middle values
    long highRank = count / 2;
    double low = Double.NaN;
    long seen = 0;
    for (long octaves = present; octaves != 0; octaves &= octaves - 1) {
      int octave = Long.numberOfTrailingZeros(octaves);
      int base = octave * SUB_BUCKETS;
      for (int s = 0; s < SUB_BUCKETS; s++) {
        long c = sums[base + s];
        if (c == 0) {
          continue;
        }
        seen += c;
        double value = midpoint(octave, s);
        if (Double.isNaN(low) && lowRank < seen) {
          low = value;
        }
        if (highRank < seen) {
          return (low + value) / 2;
        }
      }
    }
    throw new AssertionError("ranks beyond the count");
  }

  static int octave(long value) {
    return Math.max(0, 57 - Long.numberOfLeadingZeros(value));
  }

  static int subBucket(long value, int octave) {
    return octave == 0 ? (int) value : (int) (value >>> (octave - 1)) & (SUB_BUCKETS - 1);
  }

  /** The middle of the values that fall into this bucket. */
  static double midpoint(int octave, int subBucket) {
    if (octave == 0) {
      return subBucket;
    }
    long width = 1L << (octave - 1);
    long lowest = (1L << (octave + 6)) + subBucket * width;
    return lowest + (width - 1) / 2.0;
  }
}
