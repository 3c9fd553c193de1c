package io.github.forwardcontext.example.pipeline;

import io.github.forwardcontext.BatchSizeStats;
import java.io.PrintStream;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What one run measured, and the fixed lines scripts compare runs with: the {@code Checksums:}
 * block and the {@code Summary:} line.
 *
 * @param options the run's options
 * @param results the requests' results, in request order
 * @param denoisePasses how many denoising passes ran
 * @param wallNanos the run's wall time, from the first arrival to the last result
 * @param passNanosByRequests every denoising pass's time by the requests in it (empty unbatched)
 * @param queueWaitNanos every step's wait for its batch (empty unbatched)
 */
public record RunReport(
    Options options,
    List<Pipeline.Result> results,
    int denoisePasses,
    long wallNanos,
    Map<Integer, List<Long>> passNanosByRequests,
    List<Long> queueWaitNanos) {

  /** {@return the pipeline's report of a run that took {@code wallNanos}} */
  public static RunReport of(
      Options options, Pipeline pipeline, List<Pipeline.Result> results, long wallNanos) {
    StageBatcher<?, ?> batcher = pipeline.batchers();
    return new RunReport(
        options,
        results,
        pipeline.denoisePasses(),
        wallNanos,
        batcher == null ? Map.of() : batcher.passNanosByItems(),
        batcher == null ? List.of() : List.copyOf(batcher.queueWaitNanos()));
  }

  /** {@return request-steps denoised per second of wall time} */
  public double stepsPerSecond() {
    return (double) options.requests() * options.steps() / (wallNanos / 1e9);
  }

  /** {@return the mean number of requests per denoising pass} */
  public double meanRequestsPerPass() {
    return (double) options.requests() * options.steps() / Math.max(1, denoisePasses);
  }

  /** {@return the percentile of every pass's time, whatever its size, in milliseconds} */
  public double passMillis(double quantile) {
    return StageBatcher.percentileMillis(
        passNanosByRequests.values().stream().flatMap(List::stream).toList(), quantile);
  }

  /** {@return the percentile of the steps' queue wait, in milliseconds} */
  public double queueWaitMillis(double quantile) {
    return StageBatcher.percentileMillis(queueWaitNanos, quantile);
  }

  /** Prints the {@code Checksums:} block. */
  public void printChecksums(PrintStream out) {
    out.println("Checksums:");
    for (Pipeline.Result r : results) {
      out.println(
          String.format(
              Locale.ROOT,
              "  request %d  batch %d  %s  norm=%.6g",
              r.request().id(),
              r.request().batchSize(),
              HexFormat.of().toHexDigits(r.checksum()),
              r.norm()));
    }
  }

  /** Prints the batch-size mix that arrived, with pass times and queue waits. */
  public void printBatches(PrintStream out) {
    out.println(
        "Batches by requests per batch (requests, batches, pass p50 ms, pass p99 ms), "
            + "maxBatchSize "
            + options.maxBatch()
            + ", maxWait "
            + options.maxWaitMillis()
            + " ms:");
    passNanosByRequests.forEach(
        (requests, passes) ->
            out.println(
                String.format(
                    Locale.ROOT,
                    "  (%d, %d, %.2f, %.2f)",
                    requests,
                    passes.size(),
                    StageBatcher.percentileMillis(passes, 0.50),
                    StageBatcher.percentileMillis(passes, 0.99))));
    out.println(
        String.format(
            Locale.ROOT,
            "Queue wait per step: p50 %.2f ms, p99 %.2f ms (%d steps)",
            queueWaitMillis(0.50),
            queueWaitMillis(0.99),
            queueWaitNanos.size()));
  }

  /** Prints the tracker's rows. */
  static void printStats(PrintStream out, List<BatchSizeStats> stats) {
    for (BatchSizeStats row : stats) {
      out.printf("  %s%n", row);
    }
  }

  /** {@return the one {@code Summary:} line of runs that together took {@code wallNanos}} */
  public static String summary(Options options, List<RunReport> runs, long wallNanos) {
    int requests = runs.stream().mapToInt(r -> r.options().requests()).sum();
    int passes = runs.stream().mapToInt(RunReport::denoisePasses).sum();
    double wall = wallNanos / 1e9;
    double steps =
        runs.stream().mapToDouble(r -> r.options().requests() * r.options().steps()).sum();
    return String.format(
        Locale.ROOT,
        "Summary: runtime=%s requests=%d steps=%d max_batch=%d denoise_passes=%d steps_per_s=%.1f"
            + " wall_s=%.1f",
        options.runtime().name().toLowerCase(Locale.ROOT),
        requests,
        options.steps(),
        options.maxBatch(),
        passes,
        steps / runs.stream().mapToDouble(r -> r.wallNanos() / 1e9).sum(),
        wall);
  }
}
