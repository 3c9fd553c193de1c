package io.github.forwardcontext;

import io.micrometer.core.instrument.Timer;

/**
 * The timer and duration counts of one batch size of one tracker (or of the sizes beyond its cap).
 * It extends the histogram, so that a pass reaches its counts with no extra dependent load.
 */
final class Series extends DurationHistogram {
  final BatchSizeTracker tracker;
  final int batchSize;
  final String tag;
  volatile Timer timer; // null while registration failed; retried from the passes
  volatile long retryAtNanos; // written under the index's lock, then the series' own
  long retryBackoffNanos; // likewise
  boolean registrationWarned; // likewise: each tag's first failure is a WARNING

  Series(BatchSizeTracker tracker, int batchSize, String tag) {
    this.tracker = tracker;
    this.batchSize = batchSize;
    this.tag = tag;
  }

  @Override
  public String toString() {
    return "Series[batchSize=" + batchSize + ", tag=" + tag + "]";
  }
}
