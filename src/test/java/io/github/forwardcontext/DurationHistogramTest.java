package io.github.forwardcontext;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class DurationHistogramTest implements NoContextLeftBound {

  @Test
  void everyValueLiesInItsBucketAndWithinHalfAPercentOfItsMidpoint() {
    SplittableRandom random = new SplittableRandom(3);
    for (int i = 0; i < 200_000; i++) {
      long value = (long) Math.exp(random.nextDouble() * Math.log(DurationHistogram.HIGHEST_NANOS));
      int octave = DurationHistogram.octave(value);
      int sub = DurationHistogram.subBucket(value, octave);
      double midpoint = DurationHistogram.midpoint(octave, sub);

      assertThat(octave).isBetween(0, DurationHistogram.OCTAVES - 1);
      assertThat(sub).isBetween(0, DurationHistogram.SUB_BUCKETS - 1);
      assertThat(midpoint)
          .as("midpoint for %d", value)
          .isCloseTo(value, within(value * 0.004 + 0.5));
    }
  }

  @Test
  void smallValuesAreExactAndOctaveBoundariesFallInTheirOwnOctave() {
    for (long v = 0; v < 128; v++) {
      assertThat(
              DurationHistogram.midpoint(
                  DurationHistogram.octave(v), DurationHistogram.subBucket(v, 0)))
          .isEqualTo(v);
    }
    for (int octave = 1; octave < DurationHistogram.OCTAVES; octave++) {
      long first = 1L << (octave + 6);
      assertThat(DurationHistogram.octave(first)).isEqualTo(octave);
      assertThat(DurationHistogram.subBucket(first, octave)).isZero();
      assertThat(DurationHistogram.octave(first - 1)).isEqualTo(octave - 1);
      assertThat(DurationHistogram.subBucket(first - 1, octave - 1))
          .isEqualTo(DurationHistogram.SUB_BUCKETS - 1);
    }
    assertThat(DurationHistogram.octave(DurationHistogram.HIGHEST_NANOS))
        .isEqualTo(DurationHistogram.OCTAVES - 1);
  }

  @Test
  void medianIsWithinOnePercentOfTheExactMedianAndCountsAreExact() {
    SplittableRandom random = new SplittableRandom(11);
    for (int n : new int[] {2, 3, 10, 101, 1000}) {
      DurationHistogram histogram = new DurationHistogram();
      long[] values = new long[n];
      for (int i = 0; i < n; i++) {
        values[i] = random.nextLong(50, 5_000_000_000L);
        histogram.record(values[i]);
      }
      Arrays.sort(values);
      double exact = n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2.0;

      assertThat(count(histogram)).isEqualTo(n);
      assertThat(median(histogram)).isCloseTo(exact, within(exact * 0.01));
    }
  }

  @Test
  void outOfRangeDurationsAreClampedAndAnEmptyHistogramHasNoMedian() {
    DurationHistogram histogram = new DurationHistogram();
    assertThat(median(histogram)).isNaN();

    histogram.record(-5);
    histogram.record(Long.MAX_VALUE);

    assertThat(count(histogram)).isEqualTo(2);
    assertThat(median(histogram))
        .isCloseTo(
            DurationHistogram.HIGHEST_NANOS / 2.0, within(DurationHistogram.HIGHEST_NANOS * 0.01));
  }

  @Test
  void oneScratchArrayServesSeriesAfterSeriesWithoutClearing() {
    DurationHistogram slow = new DurationHistogram();
    DurationHistogram fast = new DurationHistogram();
    for (int i = 0; i < 101; i++) {
      slow.record(5_000_000L + i * 1_000L); // around 5 ms
    }
    fast.record(1_000); // around 1 us, in other octaves than the slow ones
    fast.record(3_000);
    long[] scratch = new long[DurationHistogram.OCTAVES * DurationHistogram.SUB_BUCKETS];

    long slowPresent = slow.merge(scratch);
    long slowCount = DurationHistogram.count(scratch, slowPresent);
    double slowMedian = DurationHistogram.medianNanos(scratch, slowPresent, slowCount);
    long fastPresent = fast.merge(scratch); // the slow series' counts are still in scratch
    long fastCount = DurationHistogram.count(scratch, fastPresent);
    double fastMedian = DurationHistogram.medianNanos(scratch, fastPresent, fastCount);

    assertThat(slowCount).isEqualTo(101);
    assertThat(slowMedian).isCloseTo(5_050_000.0, within(5_050_000.0 * 0.01));
    assertThat(Long.bitCount(fastPresent)).isEqualTo(2);
    assertThat(fastCount).isEqualTo(2);
    assertThat(fastMedian).isCloseTo(2_000.0, within(2_000.0 * 0.01));
  }

  /** The histogram's count, as stats() computes it. */
  private static long count(DurationHistogram histogram) {
    long[] sums = new long[DurationHistogram.OCTAVES * DurationHistogram.SUB_BUCKETS];
    return DurationHistogram.count(sums, histogram.merge(sums));
  }

  /** The histogram's median in nanoseconds, as stats() computes it. */
  private static double median(DurationHistogram histogram) {
    long[] sums = new long[DurationHistogram.OCTAVES * DurationHistogram.SUB_BUCKETS];
    long present = histogram.merge(sums);
    return DurationHistogram.medianNanos(sums, present, DurationHistogram.count(sums, present));
  }
}
