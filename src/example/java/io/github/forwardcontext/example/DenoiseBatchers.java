package io.github.forwardcontext.example;

import io.github.forwardcontext.AttentionMetadata;
import io.github.forwardcontext.BatchSizeTracker;
import io.github.forwardcontext.ForwardContext;
import io.github.forwardcontext.batching.DynamicBatcher;
import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;

/**
 * The denoising steps of concurrent requests, grouped into batches: one {@link DynamicBatcher} per
 * resolution (latent sequence length), since only requests of one shape can share a forward pass.
 *
 * <p>Each batch is one tracked pass, timed under the number of samples of all its requests. The
 * tiny transformer takes one timestep per call, and requests at different steps share a batch; so
 * inside the batch's pass each request's samples run under a context of their own (its timestep,
 * metadata and request), nested in the batch's. The math of each request is the same as in an
 * unbatched run; only the grouping differs.
 */
final class DenoiseBatchers implements AutoCloseable {

  /** One request's denoising step, waiting for a batch. */
  record Step(
      Request request,
      int timestep,
      AttentionMetadata meta,
      DenoiseMetadata shape,
      float[][][] latents,
      float[] conditioning,
      long queuedNanos) {}

  /** The metadata a batch is timed under: the samples of all its requests. */
  record Samples(int batchSize) implements AttentionMetadata {}

  private final BatchSizeTracker tracker;
  private final MicrobatchedForward stepForward;
  private final int maxBatchSize;
  private final Duration maxWait;
  private final Map<Integer, DynamicBatcher<Step, float[][][]>> batchers =
      new ConcurrentHashMap<>();
  // Demo-sized: one entry per batch and per step of the run.
  private final Map<Integer, List<Long>> passNanosByRequests = new ConcurrentHashMap<>();
  private final List<Long> queueWaitNanos = Collections.synchronizedList(new ArrayList<>());

  DenoiseBatchers(
      BatchSizeTracker tracker,
      MicrobatchedForward stepForward,
      int maxBatchSize,
      Duration maxWait) {
    this.tracker = tracker;
    this.stepForward = stepForward;
    this.maxBatchSize = maxBatchSize;
    this.maxWait = maxWait;
  }

  /** Predicts the noise of one request's step, in a batch with other requests of its resolution. */
  float[][][] forward(
      Request request,
      int timestep,
      AttentionMetadata meta,
      DenoiseMetadata shape,
      float[][][] latents,
      float[] conditioning)
      throws Exception {
    DynamicBatcher<Step, float[][][]> batcher =
        batchers.computeIfAbsent(request.sequenceLength(), this::newBatcher);
    try {
      return batcher.submit(
          new Step(request, timestep, meta, shape, latents, conditioning, System.nanoTime()));
    } catch (ExecutionException e) {
      throw e.getCause() instanceof Exception cause ? cause : e;
    }
  }

  private DynamicBatcher<Step, float[][][]> newBatcher(int sequenceLength) {
    return DynamicBatcher.<Step, float[][][]>builder(tracker, this::pass)
        .name("denoise-seq" + sequenceLength)
        .maxBatchSize(maxBatchSize)
        .maxWait(maxWait)
        .context(
            batch ->
                ForwardContext.where(
                    batch.items().getFirst().timestep(),
                    new Samples(
                        batch.items().stream().mapToInt(s -> s.request().batchSize()).sum()),
                    batch))
        .build();
  }

  private List<float[][][]> pass(List<Step> steps) throws Exception {
    long start = System.nanoTime();
    for (Step step : steps) {
      queueWaitNanos.add(start - step.queuedNanos());
    }
    List<float[][][]> noise = new ArrayList<>(steps.size());
    for (Step step : steps) {
      noise.add(
          ForwardContext.where(step.timestep(), step.meta(), step.request())
              .call(() -> stepForward.forward(step.latents(), step.conditioning(), step.shape())));
    }
    passNanosByRequests
        .computeIfAbsent(steps.size(), k -> Collections.synchronizedList(new ArrayList<>()))
        .add(System.nanoTime() - start);
    return noise;
  }

  /** {@return the number of batches that ran, by the number of requests in them} */
  Map<Integer, Integer> batchesByRequests() {
    Map<Integer, Integer> counts = new TreeMap<>();
    passNanosByRequests.forEach((requests, passes) -> counts.put(requests, passes.size()));
    return counts;
  }

  /** Prints the batch-size mix that arrived, with pass times and queue waits. */
  void report(PrintStream out) {
    out.println(
        "Batches by requests per batch (requests, batches, pass p50 ms, pass p99 ms), "
            + "maxBatchSize "
            + maxBatchSize
            + ", maxWait "
            + maxWait.toMillis()
            + " ms:");
    new TreeMap<>(passNanosByRequests)
        .forEach(
            (requests, passes) ->
                out.printf(
                    "  (%d, %d, %.2f, %.2f)%n",
                    requests,
                    passes.size(),
                    percentileMillis(passes, 0.50),
                    percentileMillis(passes, 0.99)));
    out.printf(
        "Queue wait per step: p50 %.2f ms, p99 %.2f ms (%d steps)%n",
        percentileMillis(queueWaitNanos, 0.50),
        percentileMillis(queueWaitNanos, 0.99),
        queueWaitNanos.size());
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

  /** Closes the batchers after their last pass; the next step creates new ones. */
  @Override
  public void close() {
    for (Integer key : List.copyOf(batchers.keySet())) {
      DynamicBatcher<Step, float[][][]> batcher = batchers.remove(key);
      if (batcher != null) {
        batcher.close();
      }
    }
  }
}
