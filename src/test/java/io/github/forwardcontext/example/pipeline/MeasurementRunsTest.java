package io.github.forwardcontext.example.pipeline;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.forwardcontext.example.ExampleRun;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The command lines the README's measurements are taken with, at small dimensions: batched against
 * unbatched ({@code --rate 0 --max-batch 8} and {@code --max-batch 1}), guidance in parallel and in
 * sequence, and a sweep of rates drawn as a chart. Each ends with the one {@code Summary:} line a
 * script compares.
 */
class MeasurementRunsTest {
  private static final List<String> SMALL =
      List.of("--requests", "3", "--steps", "2", "--layers", "2", "--heads", "2", "--dim", "16");

  private static ExampleRun run(String... extra) throws Exception {
    return ExampleRun.of(Stream.concat(SMALL.stream(), Stream.of(extra)).toArray(String[]::new));
  }

  private static List<String> summaries(ExampleRun run) {
    return run.out().lines().filter(line -> line.startsWith("Summary:")).toList();
  }

  @ParameterizedTest
  @ValueSource(ints = {8, 1})
  void batchedAndUnbatchedRunsEachEndWithTheirSummary(int maxBatch) throws Exception {
    ExampleRun run = run("--rate", "0", "--max-batch", Integer.toString(maxBatch));

    assertThat(run.code()).isZero();
    assertThat(summaries(run)).hasSize(1);
    assertThat(summaries(run).getFirst())
        .matches(
            "Summary: runtime=onnx requests=3 steps=2 max_batch="
                + maxBatch
                + " denoise_passes=\\d+ steps_per_s=\\d+\\.\\d wall_s=\\d+\\.\\d");
  }

  @Test
  void guidanceInSequenceSaysSoAndEndsWithItsSummary() throws Exception {
    ExampleRun run = run("--guidance-sequential");

    assertThat(run.code()).isZero();
    assertThat(run.out()).contains("guidance 4.0, two passes in turn");
    assertThat(summaries(run)).hasSize(1);
    assertThat(summaries(run).getFirst()).contains(" steps_per_s=");
  }

  @Test
  void aSweepPrintsARowPerRateAndDrawsItsChartAsAPng(@TempDir Path dir) throws Exception {
    Path chart = dir.resolve("rates.png");

    ExampleRun run = run("--sweep-rates", "200,0,400", "--chart", chart.toString());

    assertThat(run.code()).isZero();
    assertThat(run.out().lines().filter(l -> l.matches("\\s*(200\\.0|all|400\\.0)\\s+\\d.*")))
        .hasSize(3);
    assertThat(run.out()).contains("Chart: " + chart);
    assertThat(summaries(run)).hasSize(1);
    byte[] png = Files.readAllBytes(chart);
    assertThat(png).startsWith(0x89, 'P', 'N', 'G');
    BufferedImage image = ImageIO.read(chart.toFile());
    assertThat(image.getWidth()).isEqualTo(900);
    assertThat(image.getHeight()).isEqualTo(520);
  }
}
