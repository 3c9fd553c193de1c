package io.github.forwardcontext.example.pipeline;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.forwardcontext.example.ExampleRun;
import io.github.forwardcontext.example.model.Dit;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The command line, parsed by picocli: typed options, ranges, one-line errors. */
class OptionsTest {

  @Test
  void goodFlagsAreParsed() {
    Options o =
        Options.parse(
            "--requests",
            "3",
            "--steps",
            "7",
            "--batch-sizes",
            "1,8,2",
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

  @Test
  void theDefaultsRunOnnxRuntimeWithOneThreadGuidanceInParallelAndBatchesOfEight() {
    Options d = Options.DEFAULTS;

    assertThat(d.runtime()).isEqualTo(Dit.Backend.ONNX);
    assertThat(d.ortThreads()).isEqualTo(1);
    assertThat(d.guidanceScale()).isEqualTo(4.0);
    assertThat(d.guidanceParallel()).isTrue();
    assertThat(d.maxBatch()).isEqualTo(8);
    assertThat(Options.parse("--runtime", "java", "--guidance-sequential").runtime())
        .isEqualTo(Dit.Backend.JAVA);
    assertThat(Options.parse("--guidance-sequential").guidanceParallel()).isFalse();
    assertThat(Options.parse("--sweep-rates", "1,2.5,0").sweepRates())
        .containsExactly(1.0, 2.5, 0.0);
  }

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      value = {
        "--requests|0|--requests must be from 1 to 256 but was 0",
        "--requests|many|Invalid value for option '--requests': 'many' is not an int; see --help",
        "--steps|1001|--steps must be from 1 to 1000 but was 1001",
        "--batch-sizes|65|--batch-sizes must be from 1 to 64 but was 65",
        "--layers|-1|--layers must be from 1 to 32 but was -1",
        "--dim|4|--dim must be from 8 to 1024 but was 4",
        "--dim|66|--dim 66 must be a multiple of --heads 4",
        "--serve|70000|--serve must be from 0 to 65535 but was 70000",
        "--microbatches|9|--microbatches must be from 1 to 8 but was 9",
        "--rate|-1|--rate must be a number of requests per second from 0 to 10000 but was -1.0",
        "--max-batch|65|--max-batch must be from 0 to 64 but was 65",
        "--max-wait|1001|--max-wait must be from 0 to 1000 but was 1001",
        "--ort-threads|0|--ort-threads must be from 1 to 64 but was 0",
        "--guidance-scale|0.5|--guidance-scale must be from 1 to 20 but was 0.5",
        "--runtime|gpu|Invalid value for option '--runtime': expected one of [ONNX, JAVA]"
            + " (case-insensitive) but was 'gpu'; see --help",
        "--chart|x.png|--chart x.png draws a sweep: add --sweep-rates",
        "--frames|3|Unknown options: '--frames', '3'; see --help",
      })
  void eachBadFlagGetsAOneLineErrorAndExitCodeTwo(String flag, String value, String message)
      throws Exception {
    String[] args =
        flag.equals("--dim") && value.equals("66")
            ? new String[] {flag, value, "--heads", "4"}
            : new String[] {flag, value};
    assertThatThrownBy(() -> Options.parse(args))
        .isInstanceOf(Options.UsageException.class)
        .hasMessage(message);

    ExampleRun run = ExampleRun.of(args);
    assertThat(run.code()).isEqualTo(2);
    assertThat(run.err()).isEqualTo("error: " + message + System.lineSeparator());
  }

  @Test
  void aFlagWithoutItsValueIsAnError() {
    assertThatThrownBy(() -> Options.parse("--steps"))
        .isInstanceOf(Options.UsageException.class)
        .hasMessage("Missing required parameter for option '--steps' (<steps>); see --help");
    assertThatThrownBy(() -> Options.parse("steps"))
        .isInstanceOf(Options.UsageException.class)
        .hasMessage("Unmatched argument at index 0: 'steps'; see --help");
  }

  @Test
  void helpListsEveryFlag() throws Exception {
    ExampleRun run = ExampleRun.of("--help");

    assertThat(run.code()).isZero();
    assertThat(run.out())
        .contains("--runtime=onnx|java", "--ort-threads", "--guidance-scale", "--sweep-rates")
        .contains("--max-batch", "--trace", "--simulate", "--serve");
  }

  @Test
  void traceAndSimulateRunEachRequestsPassesAlone() {
    assertThat(Options.parse("--trace").maxBatch()).isZero();
    assertThat(Options.parse("--simulate", "5").maxBatch()).isZero();
    assertThatThrownBy(() -> Options.parse("--trace", "--max-batch", "4"))
        .hasMessage("--trace shows each request's own passes: use --max-batch 0");
  }
}
