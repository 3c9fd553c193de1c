package io.github.forwardcontext.example.pipeline;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.offset;

import io.github.forwardcontext.BatchSizeTracker;
import io.github.forwardcontext.NoContextLeftBound;
import io.github.forwardcontext.example.ExampleRun;
import io.github.forwardcontext.example.model.AttentionObserver;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The example with its denoising steps batched: each request's result is the unbatched one, however
 * the steps were grouped. No assertion depends on how fast anything ran.
 */
class BatchedPipelineTest implements NoContextLeftBound {

  private static Options options(double rate, int maxBatch, int maxWaitMillis) {
    return new Options(6, 4, List.of(1, 2, 3), 2, 2, 16, 11L, -1, 1, rate, maxBatch, maxWaitMillis);
  }

  /** The reference: every request alone, one after the other, each pass run directly. */
  private static Map<Integer, Long> sequentialUnbatched() throws Exception {
    Pipeline pipeline =
        new Pipeline(
            options(0, 0, 0),
            new PrometheusMeterRegistry(PrometheusConfig.DEFAULT),
            AttentionObserver.NONE);
    Map<Integer, Long> checksums = new TreeMap<>();
    for (Request request : pipeline.requests()) {
      checksums.put(request.id(), pipeline.generate(request).checksum());
    }
    return checksums;
  }

  private static Map<Integer, Long> checksums(List<Pipeline.Result> results) {
    Map<Integer, Long> checksums = new TreeMap<>();
    results.forEach(r -> checksums.put(r.request().id(), r.checksum()));
    return checksums;
  }

  @ParameterizedTest(name = "rate {0}/s, maxBatch {1}, maxWait {2} ms")
  @CsvSource({"0, 8, 0", "0, 2, 5", "0, 1, 0", "400, 8, 2", "400, 3, 0"})
  void eachRequestsChecksumIsTheSequentialUnbatchedOne(double rate, int maxBatch, int maxWait)
      throws Exception {
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    Pipeline pipeline =
        new Pipeline(options(rate, maxBatch, maxWait), registry, AttentionObserver.NONE);

    Map<Integer, Long> batched = checksums(pipeline.run(r -> {}));

    assertThat(batched).isEqualTo(sequentialUnbatched());
    // Every sample of every step went through exactly one tracked pass, whatever the grouping.
    long samples = 0;
    for (Timer timer :
        registry.find(BatchSizeTracker.METER_NAME).tag("stage", "denoise").timers()) {
      samples +=
          Long.parseLong(timer.getId().getTag(BatchSizeTracker.BATCH_SIZE_TAG)) * timer.count();
    }
    assertThat(samples).isEqualTo((1 + 2 + 3) * 2 * 4L);
  }

  @Test
  void fullBatchesGroupTheRequestsOfOneResolutionAndKeepTheirChecksums() throws Exception {
    // Requests 0, 2, 4 have one resolution and 1, 3, 5 the other. Batches of 3 fill at once and
    // run without waiting; the minute of maxWait is only a fallback that never comes into play.
    Options options = new Options(6, 4, List.of(1, 2, 3), 2, 2, 16, 11L, -1, 1, 0, 3, 60_000);
    Pipeline pipeline =
        new Pipeline(
            options, new PrometheusMeterRegistry(PrometheusConfig.DEFAULT), AttentionObserver.NONE);

    Map<Integer, Long> batched = checksums(pipeline.run(r -> {}));

    assertThat(pipeline.batchers().batchesByItems()).isEqualTo(Map.of(3, 2 * 4));
    assertThat(batched).isEqualTo(sequentialUnbatched());
  }

  @Test
  void theReportShowsTheBatchSizeMixAndTheQueueWait() throws Exception {
    ExampleRun run =
        ExampleRun.of(
            "--requests",
            "2",
            "--steps",
            "2",
            "--layers",
            "1",
            "--heads",
            "2",
            "--dim",
            "8",
            "--rate",
            "100",
            "--max-batch",
            "4",
            "--max-wait",
            "1");

    assertThat(run.code()).isZero();
    assertThat(run.out())
        .contains("Arrivals: 100.0 requests/s; batching: up to 4 requests per pass, maxWait 1 ms")
        .contains(
            "Batches by requests per batch (requests, batches, pass p50 ms, pass p99 ms), "
                + "maxBatchSize 4, maxWait 1 ms:")
        .containsPattern("Queue wait per step: p50 [0-9.]+ ms, p99 [0-9.]+ ms \\(4 steps\\)");
  }

  @Test
  void theBatchingFlagsAreParsed() {
    Options o = Options.parse("--rate", "2.5", "--max-batch", "0", "--max-wait", "10");

    assertThat(o.rate()).isEqualTo(2.5);
    assertThat(o.maxBatch()).isZero();
    assertThat(o.maxWaitMillis()).isEqualTo(10);
    assertThat(Options.DEFAULTS.rate()).isZero();
    assertThat(Options.DEFAULTS.maxBatch()).isEqualTo(8);
    assertThat(Options.DEFAULTS.maxWaitMillis()).isZero();
  }

  @Test
  void arrivalsAreSeededExponentialGapsAtTheGivenRate() {
    long[] offsets = Arrivals.offsetsNanos(20_001, 50, 3);

    assertThat(offsets[0]).isZero();
    assertThat(Arrivals.offsetsNanos(20_001, 50, 3)).isEqualTo(offsets);
    assertThat(Arrivals.offsetsNanos(20_001, 50, 4)).isNotEqualTo(offsets);
    assertThat(offsets).isSorted();
    // 20,000 gaps of mean 20 ms: the sample mean is within 3% (over 4 standard errors).
    assertThat(offsets[20_000] / 20_000 / 1e6).isCloseTo(20.0, offset(0.6));
    assertThat(Arrivals.offsetsNanos(5, 0, 3)).containsOnly(0L);
  }
}
