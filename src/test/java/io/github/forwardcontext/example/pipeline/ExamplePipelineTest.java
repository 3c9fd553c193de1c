package io.github.forwardcontext.example.pipeline;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.forwardcontext.ForwardContext;
import io.github.forwardcontext.example.ExampleRun;
import io.github.forwardcontext.example.model.AttentionObserver;
import io.github.forwardcontext.example.model.DenoiseBatch;
import io.github.forwardcontext.example.model.DenoiseMetadata;
import io.github.forwardcontext.example.model.Dit;
import io.github.forwardcontext.example.model.HybridAttention;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class ExamplePipelineTest {

  static final String[] SMALL_ARGS = {
    "--requests",
    "4",
    "--steps",
    "5",
    "--batch-sizes",
    "1,3",
    "--layers",
    "2",
    "--heads",
    "2",
    "--dim",
    "16",
    "--seed",
    "7",
    // One request per pass: the per-size counts below do not depend on arrival timing.
    "--max-batch",
    "1"
  };

  private static final Options SMALL = Options.parse(SMALL_ARGS);

  /** The plain-Java reference, whose heads an observer sees. */
  private static final Options SMALL_JAVA = java(SMALL_ARGS);

  static Options java(String... args) {
    String[] all = Arrays.copyOf(args, args.length + 2);
    all[args.length] = "--runtime";
    all[args.length + 1] = "java";
    return Options.parse(all);
  }

  @AfterEach
  void noContextLeftBound() {
    assertThat(ForwardContext.isBound()).isFalse();
  }

  static List<Pipeline.Result> run(
      Options options, PrometheusMeterRegistry registry, AttentionObserver observer)
      throws Exception {
    try (Pipeline pipeline = new Pipeline(options, registry, observer)) {
      return pipeline.run(r -> {});
    }
  }

  static List<Long> checksums(Options options) throws Exception {
    return run(
            options, new PrometheusMeterRegistry(PrometheusConfig.DEFAULT), AttentionObserver.NONE)
        .stream()
        .map(Pipeline.Result::checksum)
        .toList();
  }

  @Test
  void timerCountsPerBatchSizeAreRequestsTimesSteps() throws Exception {
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    run(SMALL, registry, AttentionObserver.NONE);

    Map<Integer, Long> requestsPerSize =
        Pipeline.requests(SMALL).stream()
            .collect(Collectors.groupingBy(Request::batchSize, Collectors.counting()));
    assertThat(requestsPerSize).containsOnlyKeys(1, 3);
    requestsPerSize.forEach(
        (size, requests) ->
            assertThat(
                    registry
                        .find("forward.pass")
                        .tag("stage", "denoise")
                        .tag("batch.size", size.toString())
                        .timer()
                        .count())
                .as("passes of batch size %d", size)
                .isEqualTo(requests * SMALL.steps()));
  }

  @Test
  void everyAttentionHeadSawItsOwnStepsTimestepAndItsOwnRequestsMetadata() throws Exception {
    record Seen(int[] requests, int[] timesteps, int layer, int head, int batchSize) {}
    ConcurrentLinkedQueue<Seen> seen = new ConcurrentLinkedQueue<>();
    AttentionObserver observer =
        (layer, head, context, weights) -> {
          DenoiseMetadata meta = new HybridAttention(SMALL.layers()).read(context, layer).shape();
          DenoiseBatch batch = context.forwardBatch(DenoiseBatch.class);
          seen.add(new Seen(batch.requests(), batch.timesteps(), layer, head, meta.batchSize()));
        };
    run(SMALL_JAVA, new PrometheusMeterRegistry(PrometheusConfig.DEFAULT), observer);

    List<Integer> schedule =
        IntStream.range(0, SMALL.steps())
            .mapToObj(s -> Pipeline.timestep(s, SMALL.steps()))
            .toList();
    for (Request request : Pipeline.requests(SMALL)) {
      List<Seen> mine = seen.stream().filter(s -> s.requests()[0] == request.id()).toList();
      // each head of each layer, twice per step (guidance: conditional and unconditional)
      assertThat(mine).hasSize(2 * SMALL.steps() * SMALL.layers() * SMALL.heads());
      assertThat(mine)
          .allSatisfy(
              s -> {
                assertThat(s.batchSize()).isEqualTo(request.batchSize());
                assertThat(s.requests()).containsOnly(request.id());
              });
      for (int layer = 0; layer < SMALL.layers(); layer++) {
        for (int head = 0; head < SMALL.heads(); head++) {
          int l = layer;
          int h = head;
          assertThat(
                  mine.stream()
                      .filter(s -> s.layer() == l && s.head() == h)
                      .map(s -> s.timesteps()[0]))
              .containsExactlyInAnyOrderElementsOf(
                  schedule.stream().flatMap(t -> java.util.stream.Stream.of(t, t)).toList());
        }
      }
    }
  }

  @Test
  void attentionRowsSumToOne() throws Exception {
    ConcurrentLinkedQueue<Double> worst = new ConcurrentLinkedQueue<>();
    AttentionObserver observer =
        (layer, head, context, weights) -> {
          double maxError = 0;
          for (float[] row : weights) {
            double sum = 0;
            for (float w : row) {
              assertThat(w).isBetween(0f, 1f);
              sum += w;
            }
            maxError = Math.max(maxError, Math.abs(sum - 1));
          }
          worst.add(maxError);
        };
    run(SMALL_JAVA, new PrometheusMeterRegistry(PrometheusConfig.DEFAULT), observer);

    assertThat(worst).isNotEmpty().allSatisfy(e -> assertThat(e).isLessThan(1e-5));
  }

  @Test
  void theSameSeedGivesTheSameChecksumsAndAnotherSeedOthers() throws Exception {
    List<Long> first = checksums(SMALL);
    List<Long> second = checksums(SMALL);
    String[] other = SMALL_ARGS.clone();
    other[13] = "8"; // --seed

    assertThat(second).isEqualTo(first);
    assertThat(Set.copyOf(first)).hasSize(SMALL.requests());
    assertThat(checksums(Options.parse(other))).doesNotContainAnyElementsOf(first);
  }

  @Test
  void thePrometheusTextHasACountPerBatchSize() throws Exception {
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    run(SMALL, registry, AttentionObserver.NONE);

    assertThat(registry.scrape())
        .contains("forward_pass_seconds_count{batch_size=\"1\",stage=\"denoise\"} 10")
        .contains("forward_pass_seconds_count{batch_size=\"3\",stage=\"denoise\"} 10");
  }

  @Test
  void withTraceTheRunPrintsRequestZerosSpanTreeOfPassesLayersAndHeads() throws Exception {
    ExampleRun run =
        ExampleRun.of(
            "--requests",
            "2",
            "--steps",
            "3",
            "--batch-sizes",
            "2",
            "--layers",
            "2",
            "--heads",
            "2",
            "--dim",
            "16",
            "--trace",
            "--runtime",
            "java",
            "--guidance-scale",
            "1");

    assertThat(run.code()).as(run.err()).isZero();
    List<String> tree =
        run.section("Span tree of request 0").stream()
            .map(l -> l.replaceAll("  [0-9.]+ ms$", ""))
            .toList();
    assertThat(tree)
        .containsExactly(
            "  request 0",
            "    forward pass {batch.size=2, stage=denoise, timestep=1000}",
            "      attention layer 0",
            "        attention head 0",
            "        attention head 1",
            "      attention layer 1",
            "        attention head 0",
            "        attention head 1",
            "    forward pass {batch.size=2, stage=denoise, timestep=667}",
            "      attention layer 0",
            "        attention head 0",
            "        attention head 1",
            "      attention layer 1",
            "        attention head 0",
            "        attention head 1",
            "    ... and 1 more span like it");
  }

  @Test
  void theCommandLineRunPrintsEveryPartAndEndsWithTheSummary() throws Exception {
    ExampleRun run =
        ExampleRun.of(
            "--requests",
            "2",
            "--steps",
            "3",
            "--batch-sizes",
            "2",
            "--layers",
            "1",
            "--heads",
            "2",
            "--dim",
            "8");

    assertThat(run.code()).isZero();
    assertThat(run.err()).isEmpty();
    assertThat(run.out())
        .contains("request 0 done", "request 1 done")
        .contains("Checksums:")
        .contains("(2, 6, ")
        .contains("forward_pass_seconds_count{batch_size=\"2\",stage=\"denoise\"} 6")
        // one pass per stage and request for the encoder and the decoder, batched or not
        .containsPattern("forward_pass_seconds_count\\{batch_size=\"[12]\",stage=\"encode\"\\}")
        .containsPattern("forward_pass_seconds_count\\{batch_size=\"[24]\",stage=\"decode\"\\}");
    assertThat(run.section("Checksums:"))
        .hasSize(2)
        .allMatch(l -> l.matches("  request \\d  batch 2  [0-9a-f]{16}  norm=[0-9.]{6,7}"));
    List<String> lines = run.out().lines().toList();
    assertThat(lines.stream().filter(l -> l.startsWith("Summary:"))).hasSize(1);
    assertThat(lines.getLast())
        .matches(
            "Summary: runtime=onnx requests=2 steps=3 max_batch=8 denoise_passes=\\d+"
                + " steps_per_s=\\d+\\.\\d wall_s=\\d+\\.\\d");
  }

  // --- the hybrid model and microbatches ---

  /** Requests of batch sizes 1, 3 and 4: a batch too small to split, an uneven and an even one. */
  private static Options hybrid(int microbatches, String runtime) {
    return Options.parse(
        "--requests",
        "3",
        "--steps",
        "4",
        "--batch-sizes",
        "1,3,4",
        "--layers",
        "3",
        "--heads",
        "2",
        "--dim",
        "16",
        "--seed",
        "11",
        // Each request's own passes: with batching on, requests 0 and 2 (same resolution) share a
        // pass whenever their steps happen to queue together.
        "--max-batch",
        "0",
        "--microbatches",
        Integer.toString(microbatches),
        "--runtime",
        runtime);
  }

  @Test
  void overlappedMicrobatchesGiveTheSameChecksumsAsTheSequentialRun() throws Exception {
    List<Long> sequential = checksums(hybrid(1, "java"));

    assertThat(checksums(hybrid(2, "java"))).isEqualTo(sequential);
    assertThat(checksums(hybrid(4, "java"))).isEqualTo(sequential);
    assertThat(Set.copyOf(sequential)).hasSize(3);
  }

  @Test
  void aMicrobatchedStepIsTimedOnceUnderTheWholeBatchSize() throws Exception {
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    run(hybrid(2, "onnx"), registry, AttentionObserver.NONE);

    assertThat(registry.find("forward.pass").tag("stage", "denoise").timers())
        .extracting(timer -> timer.getId().getTag("batch.size") + "=" + timer.count())
        .containsExactlyInAnyOrder("1=4", "3=4", "4=4");
  }

  @Test
  void eachMicrobatchsHeadsSeeTheirShareOfTheBatch() throws Exception {
    record Seen(int requestId, int batchSize) {}
    ConcurrentLinkedQueue<Seen> seen = new ConcurrentLinkedQueue<>();
    HybridAttention layout = new HybridAttention(3);
    AttentionObserver observer =
        (layer, head, context, weights) -> {
          DenoiseMetadata meta = layout.read(context, layer).shape();
          int request = context.forwardBatch(DenoiseBatch.class).requests()[meta.firstSample()];
          seen.add(new Seen(request, meta.batchSize()));
        };
    run(hybrid(2, "java"), new PrometheusMeterRegistry(PrometheusConfig.DEFAULT), observer);

    Map<Integer, Set<Integer>> sizesByRequest =
        seen.stream()
            .collect(
                Collectors.groupingBy(
                    Seen::requestId, Collectors.mapping(Seen::batchSize, Collectors.toSet())));
    // batch 1: one microbatch; batch 3: 1 + 2 samples; batch 4: 2 + 2
    assertThat(sizesByRequest)
        .containsExactlyInAnyOrderEntriesOf(Map.of(0, Set.of(1), 1, Set.of(1, 2), 2, Set.of(2)));
  }

  @Test
  void localAttentionLayersSeeOnlyNeighbouringFramesAndFullAttentionLayersSeeAll()
      throws Exception {
    ConcurrentLinkedQueue<String> checked = new ConcurrentLinkedQueue<>();
    AttentionObserver observer =
        (layer, head, context, weights) -> {
          for (int q = 0; q < weights.length; q++) {
            for (int k = 0; k < weights[q].length; k++) {
              int distance =
                  Math.abs(
                      q / HybridAttention.TOKENS_PER_FRAME - k / HybridAttention.TOKENS_PER_FRAME);
              if (HybridAttention.isLocal(layer) && distance > HybridAttention.WINDOW_FRAMES) {
                assertThat(weights[q][k]).isZero();
              } else {
                assertThat(weights[q][k]).isPositive();
              }
            }
          }
          checked.add(HybridAttention.isLocal(layer) ? "local" : "full");
        };
    // 8 frames: tokens far apart exist, so the window masks something
    run(hybrid(1, "java"), new PrometheusMeterRegistry(PrometheusConfig.DEFAULT), observer);

    assertThat(checked).contains("local", "full");
  }

  // --- the two runtimes and batching, end to end ---

  @Test
  void onnxRuntimeAndTheJavaReferenceGiveTheSameLatentsWithin1e4() throws Exception {
    String[] args = {
      "--requests",
      "3",
      "--steps",
      "4",
      "--batch-sizes",
      "1,2",
      "--layers",
      "2",
      "--heads",
      "4",
      "--dim",
      "64",
      "--max-batch",
      "0"
    };
    List<Pipeline.Result> onnx =
        run(
            Options.parse(args),
            new PrometheusMeterRegistry(PrometheusConfig.DEFAULT),
            AttentionObserver.NONE);
    List<Pipeline.Result> java =
        run(
            java(args),
            new PrometheusMeterRegistry(PrometheusConfig.DEFAULT),
            AttentionObserver.NONE);

    for (int i = 0; i < onnx.size(); i++) {
      assertThat(relativeError(onnx.get(i).latents(), java.get(i).latents())).isLessThan(1e-4);
    }
  }

  @Test
  void theSameSeedBatchedAndUnbatchedGivesTheSameLatentsPerRequest() throws Exception {
    String[] args = {
      "--requests",
      "6",
      "--steps",
      "4",
      "--batch-sizes",
      "1,2",
      "--layers",
      "2",
      "--heads",
      "4",
      "--dim",
      "64",
      "--max-batch",
      "0"
    };
    List<Pipeline.Result> alone =
        run(
            Options.parse(args),
            new PrometheusMeterRegistry(PrometheusConfig.DEFAULT),
            AttentionObserver.NONE);
    args[args.length - 1] = "8";
    List<Pipeline.Result> batched;
    try (Pipeline pipeline =
        new Pipeline(
            Options.parse(args),
            new PrometheusMeterRegistry(PrometheusConfig.DEFAULT),
            AttentionObserver.NONE)) {
      batched = pipeline.run(r -> {});
      // Requests really shared passes: fewer passes than request-steps.
      assertThat(pipeline.denoisePasses()).isLessThan(6 * 4);
    }
    for (int i = 0; i < alone.size(); i++) {
      assertThat(relativeError(batched.get(i).latents(), alone.get(i).latents())).isLessThan(1e-5);
    }
  }

  static double relativeError(float[][] actual, float[][] expected) {
    double diff = 0;
    double norm = 0;
    for (int b = 0; b < expected.length; b++) {
      for (int i = 0; i < expected[b].length; i++) {
        double d = actual[b][i] - expected[b][i];
        diff += d * d;
        norm += (double) expected[b][i] * expected[b][i];
      }
    }
    return Math.sqrt(diff / norm);
  }

  @Test
  void aTransformerSharedByPipelinesIsNotClosedWithThem() throws Exception {
    Options options = Options.parse(SMALL_ARGS);
    try (Dit dit =
        Dit.create(
            Dit.Backend.ONNX,
            new io.github.forwardcontext.example.model.DitConfig(2, 2, 16, 7),
            1,
            AttentionObserver.NONE,
            null)) {
      List<Long> first;
      try (Pipeline p =
          new Pipeline(options, new PrometheusMeterRegistry(PrometheusConfig.DEFAULT), null, dit)) {
        first = p.run(r -> {}).stream().map(Pipeline.Result::checksum).toList();
      }
      try (Pipeline p =
          new Pipeline(options, new PrometheusMeterRegistry(PrometheusConfig.DEFAULT), null, dit)) {
        assertThat(p.run(r -> {}).stream().map(Pipeline.Result::checksum).toList())
            .isEqualTo(first);
      }
      assertThat(first).isEqualTo(checksums(options));
    }
  }
}
