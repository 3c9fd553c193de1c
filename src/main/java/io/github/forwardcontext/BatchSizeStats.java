package io.github.forwardcontext;

/**
 * One row of the batch-size report: how many forward passes of one batch size were timed, and their
 * median duration.
 *
 * @param batchSize the batch size, or {@link #OTHER} for the passes of the batch sizes beyond the
 *     tracker's {@code maxBatchSizes} cap
 * @param count the number of timed passes of this batch size
 * @param medianMillis the median duration of those passes, in milliseconds: within 1% of the exact
 *     median (which for an even count is the mean of the two middle durations) while the durations
 *     stay below one hour; durations beyond one hour are counted as one hour
 * @see BatchSizeTracker#stats()
 */
public record BatchSizeStats(int batchSize, long count, double medianMillis) {

  /** The {@link #batchSize()} of the row that gathers every batch size beyond the cap. */
  public static final int OTHER = -1;

  /**
   * Checks the row.
   *
   * @throws IllegalArgumentException if {@code batchSize} is negative and not {@link #OTHER}, or
   *     {@code count} is negative
   */
  public BatchSizeStats {
    if (batchSize < OTHER) {
      throw new IllegalArgumentException(
          "batchSize must be >= 0, or OTHER (-1), but was " + batchSize);
    }
    if (count < 0) {
      throw new IllegalArgumentException("count must be >= 0 but was " + count);
    }
  }

  /** {@return whether this row gathers the batch sizes beyond the tracker's cap} */
  public boolean isOther() {
    return batchSize == OTHER;
  }

  /**
   * {@return this row as the report line shows it}, for example {@code (8, 120, 12.34)}: the batch
   * size (or {@code other}), the count, and the median rounded to two decimals.
   */
  @Override
  public String toString() {
    String size = isOther() ? "other" : Integer.toString(batchSize);
    return "(" + size + ", " + count + ", " + Math.round(medianMillis * 100.0) / 100.0 + ")";
  }
}
