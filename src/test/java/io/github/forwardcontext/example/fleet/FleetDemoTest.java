package io.github.forwardcontext.example.fleet;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The fleet demo's failures that need no Prometheus: they happen before it starts anything. */
class FleetDemoTest {

  @Test
  void aMissingPrometheusBinaryIsOneLineWithTheInstallCommandAndExitCodeTwo() throws Exception {
    ProcessBuilder builder =
        new ProcessBuilder(
            Path.of(System.getProperty("java.home"), "bin", "java").toString(),
            "--enable-preview",
            "-cp",
            System.getProperty("java.class.path"),
            FleetDemo.class.getName());
    builder.environment().put("PATH", "");
    Process demo = builder.start();
    demo.getOutputStream().close();
    byte[] out = demo.getInputStream().readAllBytes();
    String err = new String(demo.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);

    assertThat(demo.waitFor(30, TimeUnit.SECONDS)).isTrue();
    assertThat(demo.exitValue()).isEqualTo(2);
    assertThat(out).isEmpty();
    assertThat(err.lines().toList())
        .isEqualTo(
            List.of(
                "error: no prometheus binary on the PATH; install it with: sudo apt-get install"
                    + " -y prometheus"));
  }

  @Test
  void aWorkerCountOutOfRangeIsAUsageErrorWithExitCodeTwo() throws Exception {
    ByteArrayOutputStream err = new ByteArrayOutputStream();

    int code =
        FleetDemo.run(
            new String[] {"--workers", "17"},
            new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8),
            new PrintStream(err, true, StandardCharsets.UTF_8));

    assertThat(code).isEqualTo(2);
    assertThat(err.toString(StandardCharsets.UTF_8))
        .isEqualTo("error: --workers must be from 1 to 16 but was 17" + System.lineSeparator());
  }
}
