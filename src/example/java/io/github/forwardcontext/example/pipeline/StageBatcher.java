package io.github.forwardcontext.example.pipeline;

import io.github.forwardcontext.BatchSizeTracker;
import io.github.forwardcontext.ForwardContext;
import io.github.forwardcontext.batching.Batch;
import io.github.forwardcontext.batching.BatchFunction;
import io.github.forwardcontext.batching.DynamicBatcher;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.function.Function;

/**
 * One stage's batcher: one {@link DynamicBatcher} whose items share a pass only when their keys (a
 * resolution) are equal ({@link DynamicBatcher.Builder#compatibleBy compatibleBy}), in arrival
 * order, one dispatcher for every key, each pass one tracked pass of the stage's tracker. It
 * records, for the report, each pass's time by the number of items in it, and each item's wait in
 * the queue.
 *
 * @param <I> the items
 * @param <O> the results
 */
final class StageBatcher<I, O> implements AutoCloseable {
  private final DynamicBatcher<I, O> batcher;
  private final int maxBatchSize;
  private final Duration maxWait;
  // Demo-sized: one entry per batch and per item of the run.
  private final Map<Integer, List<Long>> passNanosByItems = new ConcurrentHashMap<>();
  private final List<Long> queueWaitNanos = Collections.synchronizedList(new ArrayList<>());

  StageBatcher(
      String name,
      BatchSizeTracker tracker,
      BatchFunction<I, O> pass,
      Function<? super I, ?> key,
      Function<? super Batch<I>, ? extends ForwardContext> context,
      Function<? super I, Long> queuedNanos,
      int maxBatchSize,
      Duration maxWait) {
    this.maxBatchSize = maxBatchSize;
    this.maxWait = maxWait;
    BatchFunction<I, O> timed =
        items -> {
          long start = System.nanoTime();
          for (I item : items) {
            queueWaitNanos.add(start - queuedNanos.apply(item));
          }
          List<O> out = pass.apply(items);
          passNanosByItems
              .computeIfAbsent(items.size(), k -> Collections.synchronizedList(new ArrayList<>()))
              .add(System.nanoTime() - start);
          return out;
        };
    this.batcher =
        DynamicBatcher.<I, O>builder(tracker, timed)
            .name(name)
            .maxBatchSize(maxBatchSize)
            .maxWait(maxWait)
            .compatibleBy(key)
            .context(context)
            .build();
  }

  /** Submits an item and waits for its result; a failed pass's cause is thrown as itself. */
  O submit(I item) throws Exception {
    try {
      return batcher.submit(item);
    } catch (ExecutionException e) {
      throw e.getCause() instanceof Exception cause ? cause : e;
    }
  }

  /** {@return the number of passes that ran, by the number of items in them} */
  Map<Integer, Integer> batchesByItems() {
    Map<Integer, Integer> counts = new TreeMap<>();
    passNanosByItems.forEach((items, passes) -> counts.put(items, passes.size()));
    return counts;
  }

  /** {@return the total number of passes} */
  int passes() {
    return passNanosByItems.values().stream().mapToInt(List::size).sum();
  }

  /** {@return every pass's time, by the number of items in it} */
  Map<Integer, List<Long>> passNanosByItems() {
    return new TreeMap<>(passNanosByItems);
  }

  /** {@return every item's wait in the queue} */
  List<Long> queueWaitNanos() {
    return queueWaitNanos;
  }

  int maxBatchSize() {
    return maxBatchSize;
  }

  Duration maxWait() {
    return maxWait;
  }

  /** The nearest-rank percentile, in milliseconds; 0 for no samples. */
  static double percentileMillis(List<Long> nanos, double quantile) {
    List<Long> sorted;
    synchronized (nanos) {
      sorted = new ArrayList<>(nanos);
    }
    if (sorted.isEmpty()) {
      return 0;
    }
    Collections.sort(sorted);
    int rank = (int) Math.ceil(quantile * sorted.size());
    return sorted.get(Math.max(0, rank - 1)) / 1e6;
  }

  @Override
  public void close() {
    batcher.close();
  }
}
