package io.github.forwardcontext.example;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.forwardcontext.ForwardContext;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ExamplePipelineTest {

  private static final Options SMALL =
      Options.parse(
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
          "1");

  @AfterEach
  void noContextLeftBound() {
    assertThat(ForwardContext.isBound()).isFalse();
  }

  private static List<Pipeline.Result> run(
      Options options, PrometheusMeterRegistry registry, AttentionObserver observer)
      throws Exception {
    return new Pipeline(options, registry, observer).run(r -> {});
  }

  @Test
  void timerCountsPerBatchSizeAreRequestsTimesSteps() throws Exception {
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    Pipeline pipeline = new Pipeline(SMALL, registry, AttentionObserver.NONE);
    pipeline.run(r -> {});

    Map<Integer, Long> requestsPerSize =
        pipeline.requests().stream()
            .collect(Collectors.groupingBy(Request::batchSize, Collectors.counting()));
    assertThat(requestsPerSize).containsOnlyKeys(1, 3);
    requestsPerSize.forEach(
        (size, requests) ->
            assertThat(
                    registry
                        .find("forward.pass")
                        .tag("batch.size", size.toString())
                        .timer()
                        .count())
                .as("passes of batch size %d", size)
                .isEqualTo(requests * SMALL.steps()));
  }

  @Test
  void everyAttentionHeadSawItsOwnStepsTimestepAndItsOwnRequestsMetadata() throws Exception {
    record Seen(
        int requestId, int batchRequestId, int timestep, int layer, int head, int batchSize) {}
    ConcurrentLinkedQueue<Seen> seen = new ConcurrentLinkedQueue<>();
    AttentionObserver observer =
        (layer, head, context, weights) -> {
          DenoiseMetadata meta = new HybridAttention(SMALL.layers()).read(context, layer).shape();
          seen.add(
              new Seen(
                  meta.requestId(),
                  context.forwardBatch(Request.class).id(),
                  context.currentTimestep(),
                  layer,
                  head,
                  meta.batchSize()));
        };
    Pipeline pipeline =
        new Pipeline(SMALL, new PrometheusMeterRegistry(PrometheusConfig.DEFAULT), observer);
    pipeline.run(r -> {});

    List<Integer> schedule =
        IntStream.range(0, SMALL.steps())
            .mapToObj(s -> Pipeline.timestep(s, SMALL.steps()))
            .toList();
    assertThat(seen).allSatisfy(s -> assertThat(s.requestId()).isEqualTo(s.batchRequestId()));
    for (Request request : pipeline.requests()) {
      List<Seen> mine = seen.stream().filter(s -> s.requestId() == request.id()).toList();
      // each head of each layer, once per step
      assertThat(mine).hasSize(SMALL.steps() * SMALL.layers() * SMALL.heads());
      assertThat(mine).allSatisfy(s -> assertThat(s.batchSize()).isEqualTo(request.batchSize()));
      for (int layer = 0; layer < SMALL.layers(); layer++) {
        for (int head = 0; head < SMALL.heads(); head++) {
          int l = layer;
          int h = head;
          assertThat(mine.stream().filter(s -> s.layer() == l && s.head() == h).map(Seen::timestep))
              .containsExactlyInAnyOrderElementsOf(schedule);
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
    run(SMALL, new PrometheusMeterRegistry(PrometheusConfig.DEFAULT), observer);

    assertThat(worst).isNotEmpty().allSatisfy(e -> assertThat(e).isLessThan(1e-5));
  }

  @Test
  void theSameSeedGivesTheSameChecksumsAndAnotherSeedOthers() throws Exception {
    List<Long> first = checksums(SMALL);
    List<Long> second = checksums(SMALL);
    Options otherSeed =
        new Options(
            SMALL.requests(),
            SMALL.steps(),
            SMALL.batchSizes(),
            SMALL.layers(),
            SMALL.heads(),
            SMALL.dim(),
            8,
            -1,
            SMALL.microbatches(),
            SMALL.rate(),
            SMALL.maxBatch(),
            SMALL.maxWaitMillis());

    assertThat(second).isEqualTo(first);
    assertThat(Set.copyOf(first)).hasSize(SMALL.requests());
    assertThat(checksums(otherSeed)).doesNotContainAnyElementsOf(first);
  }

  private static List<Long> checksums(Options options) throws Exception {
    return run(
            options, new PrometheusMeterRegistry(PrometheusConfig.DEFAULT), AttentionObserver.NONE)
        .stream()
        .map(Pipeline.Result::checksum)
        .toList();
  }

  @Test
  void thePrometheusTextHasACountPerBatchSize() throws Exception {
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    run(SMALL, registry, AttentionObserver.NONE);

    assertThat(registry.scrape())
        .contains("forward_pass_seconds_count{batch_size=\"1\"} 10")
        .contains("forward_pass_seconds_count{batch_size=\"3\"} 10");
  }

  @Test
  void withTraceTheRunPrintsRequestZerosSpanTreeOfPassesLayersAndHeads() throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();

    int code =
        ExamplePipeline.run(
            new String[] {
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
              "--trace"
            },
            new PrintStream(out, true, StandardCharsets.UTF_8),
            new PrintStream(err, true, StandardCharsets.UTF_8));

    assertThat(code).as(err.toString(StandardCharsets.UTF_8)).isZero();
    String text = out.toString(StandardCharsets.UTF_8);
    List<String> tree =
        text.lines()
            .dropWhile(l -> !l.startsWith("Span tree of request 0"))
            .skip(1)
            .takeWhile(l -> !l.isBlank())
            .map(l -> l.replaceAll("  [0-9.]+ ms$", ""))
            .toList();
    assertThat(tree)
        .containsExactly(
            "  request 0",
            "    forward pass {batch.size=2, timestep=1000}",
            "      attention layer 0",
            "        attention head 0",
            "        attention head 1",
            "      attention layer 1",
            "        attention head 0",
            "        attention head 1",
            "    forward pass {batch.size=2, timestep=667}",
            "      attention layer 0",
            "        attention head 0",
            "        attention head 1",
            "      attention layer 1",
            "        attention head 0",
            "        attention head 1",
            "    ... and 1 more spans like these");
  }

  @Test
  void theCommandLineRunPrintsEveryPart() throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();

    int code =
        ExamplePipeline.run(
            new String[] {
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
              "8"
            },
            new PrintStream(out, true, StandardCharsets.UTF_8),
            new PrintStream(err, true, StandardCharsets.UTF_8));

    String text = out.toString(StandardCharsets.UTF_8);
    assertThat(code).isZero();
    assertThat(err.toString(StandardCharsets.UTF_8)).isEmpty();
    assertThat(text)
        .contains("request 0 done", "request 1 done")
        .contains("Checksums:")
        .contains("(2, 6, ")
        .contains("forward_pass_seconds_count{batch_size=\"2\"} 6");
  }

  @Test
  void goodFlagsAreParsed() {
    Options o =
        Options.parse(
            "--requests",
            "3",
            "--steps",
            "7",
            "--batch-sizes",
            "1, 8,2",
            "--layers",
            "2",
            "--heads",
            "8",
            "--dim",
            "32",
            "--seed",
            "-5",
            "--serve",
            "0");

    assertThat(o).isEqualTo(new Options(3, 7, List.of(1, 8, 2), 2, 8, 32, -5L, 0, 1, 0, 8, 0));
    assertThat(Options.parse()).isEqualTo(Options.DEFAULTS);
    assertThat(Options.parse("--help")).isNull();
  }

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        "--requests|0|--requests must be from 1 to 256 but was 0",
        "--requests|many|--requests must be a whole number from 1 to 256 but was 'many'",
        "--steps|1001|--steps must be from 1 to 1000 but was 1001",
        "--batch-sizes|1,,2|--batch-sizes must be a comma-separated list of sizes from 1 to 64 but was '1,,2'",
        "--batch-sizes|65|--batch-sizes must be from 1 to 64 but was 65",
        "--layers|-1|--layers must be from 1 to 32 but was -1",
        "--heads|x|--heads must be a whole number from 1 to 64 but was 'x'",
        "--dim|4|--dim must be from 8 to 512 but was 4",
        "--dim|66|--dim 66 must be a multiple of --heads 4",
        "--seed|1.5|--seed must be a whole number but was '1.5'",
        "--serve|70000|--serve must be from 0 to 65535 but was 70000",
        "--microbatches|9|--microbatches must be from 1 to 8 but was 9",
        "--rate|-1|--rate must be a number of requests per second from 0 to 10000 but was '-1'",
        "--rate|fast|--rate must be a number of requests per second from 0 to 10000 but was 'fast'",
        "--max-batch|65|--max-batch must be from 0 to 64 but was 65",
        "--max-wait|1001|--max-wait must be from 0 to 1000 but was 1001",
        "--frames|3|unknown flag '--frames'; see --help",
      })
  void eachBadFlagGetsAOneLineErrorAndExitCodeTwo(String flag, String value, String message)
      throws Exception {
    assertThatThrownBy(() -> Options.parse(flag, value))
        .isInstanceOf(Options.UsageException.class)
        .hasMessage(message);

    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int code =
        ExamplePipeline.run(
            new String[] {flag, value},
            new PrintStream(new ByteArrayOutputStream()),
            new PrintStream(err, true, StandardCharsets.UTF_8));
    assertThat(code).isEqualTo(2);
    assertThat(err.toString(StandardCharsets.UTF_8))
        .isEqualTo("error: " + message + System.lineSeparator());
  }

  @Test
  void aFlagWithoutItsValueIsAnError() {
    assertThatThrownBy(() -> Options.parse("--steps"))
        .isInstanceOf(Options.UsageException.class)
        .hasMessage("--steps needs a value; see --help");
    assertThatThrownBy(() -> Options.parse("steps"))
        .isInstanceOf(Options.UsageException.class)
        .hasMessage("unexpected argument 'steps'; flags start with --, see --help");
  }

  // --- the hybrid model and microbatches ---

  /** Requests of batch sizes 1, 3 and 4: a batch too small to split, an uneven and an even one. */
  private static Options hybrid(int microbatches) {
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
        Integer.toString(microbatches));
  }

  @Test
  void overlappedMicrobatchesGiveTheSameChecksumsAsTheSequentialRun() throws Exception {
    List<Long> sequential = checksums(hybrid(1));

    assertThat(checksums(hybrid(2))).isEqualTo(sequential);
    assertThat(checksums(hybrid(4))).isEqualTo(sequential);
    assertThat(Set.copyOf(sequential)).hasSize(3);
  }

  @Test
  void aMicrobatchedStepIsTimedOnceUnderTheWholeBatchSize() throws Exception {
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    run(hybrid(2), registry, AttentionObserver.NONE);

    assertThat(registry.find("forward.pass").timers())
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
          seen.add(new Seen(meta.requestId(), meta.batchSize()));
        };
    run(hybrid(2), new PrometheusMeterRegistry(PrometheusConfig.DEFAULT), observer);

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
              int distance = Math.abs(q / Request.TOKENS_PER_FRAME - k / Request.TOKENS_PER_FRAME);
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
    run(hybrid(1), new PrometheusMeterRegistry(PrometheusConfig.DEFAULT), observer);

    assertThat(checked).contains("local", "full");
  }
}
