package io.github.forwardcontext;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class BatchSizeTrackerGlobalTest implements NoContextLeftBound {

  @Test
  void absentOrBlankSettingsLeaveTrackingOff() {
    assertThat(GlobalTracking.parse(null, null)).isNull();
    assertThat(GlobalTracking.parse("", "  ")).isNull();
  }

  @Test
  void nonNegativeSecondsSwitchTrackingOnWithThatInterval() {
    assertThat(GlobalTracking.parse("1000", null)).isEqualTo(Duration.ofSeconds(1000));
    assertThat(GlobalTracking.parse(" 0 ", null)).isEqualTo(Duration.ZERO);
    assertThat(GlobalTracking.parse(null, "2.5")).isEqualTo(Duration.ofMillis(2500));
  }

  @Test
  void negativeSecondsLeaveTrackingOff() {
    assertThat(GlobalTracking.parse("-1", null)).isNull();
    assertThat(GlobalTracking.parse(null, "-0.5")).isNull();
  }

  @Test
  void theSystemPropertyWinsOverTheEnvironmentVariable() {
    assertThat(GlobalTracking.parse("5", "7")).isEqualTo(Duration.ofSeconds(5));
    assertThat(GlobalTracking.parse("-1", "7")).isNull();
  }

  @Test
  void malformedValuesFailNamingTheSettingAndTheValue() {
    for (String bad : List.of("abc", "10s", "1e3", "NaN", "Infinity", "0x10", "1,5")) {
      assertThatThrownBy(() -> GlobalTracking.parse(bad, null))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("system property forwardcontext.log-batchsize-interval")
          .hasMessageContaining("'" + bad + "'");
    }
    assertThatThrownBy(() -> GlobalTracking.parse(null, "soon"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("environment variable FORWARDCONTEXT_LOG_BATCHSIZE_INTERVAL")
        .hasMessageContaining("'soon'");
  }

  @Test
  void theSettingMakesForwardContextWhereTrackedOnTheGlobalRegistry() throws Exception {
    Result result = runProbe("-Dforwardcontext.log-batchsize-interval=0");

    assertThat(result.exitCode()).as(result.output()).isZero();
    assertThat(result.output()).contains("count=3", "global=true", "rows=[(6, 3, ");
  }

  @Test
  void theGlobalTrackerClaimsTheGlobalRegistryLikeAnyTracker() throws Exception {
    Result result = runProbe("-Dforwardcontext.log-batchsize-interval=0");

    assertThat(result.exitCode()).as(result.output()).isZero();
    assertThat(result.output()).contains("second untagged tracker=refused", "tagged tracker=built");
  }

  @Test
  void withoutTheSettingForwardContextWhereIsUntracked() throws Exception {
    Result result = runProbe();

    assertThat(result.exitCode()).as(result.output()).isZero();
    assertThat(result.output()).contains("count=0", "global=false");
  }

  @Test
  void aMalformedSettingFailsEveryGloballyTrackedPassNamingTheSettingWithoutPoisoningTheClass()
      throws Exception {
    Result result = runProbe("-Dforwardcontext.log-batchsize-interval=often", "misconfigured");

    assertThat(result.exitCode()).as(result.output()).isZero();
    assertThat(result.output())
        .doesNotContain("NoClassDefFoundError", "ExceptionInInitializerError", "run=ok")
        .contains("explicit=7 rows=0");
    assertThat(result.output().lines().filter(l -> l.startsWith("run failed: ")))
        .hasSize(2)
        .allSatisfy(
            line ->
                assertThat(line)
                    .contains("system property forwardcontext.log-batchsize-interval", "'often'"));
    assertThat(result.output())
        .contains("global failed: ")
        .containsPattern("(SEVERE|ERROR): system property forwardcontext.log-batchsize-interval");
  }

  @Test
  void aTrackerThatClaimedTheGlobalRegistryFirstLeavesForwardContextWorking() throws Exception {
    Result result = runProbe("-Dforwardcontext.log-batchsize-interval=10", "claimedFirst");

    assertThat(result.exitCode()).as(result.output()).isZero();
    assertThat(result.output())
        .contains("mine=3 bound=false")
        .contains(
            "run failed: Global batch-size tracking is misconfigured: Another BatchSizeTracker")
        .containsPattern("(SEVERE|ERROR): Global batch-size tracking cannot start");
  }

  private record Result(int exitCode, String output) {}

  /**
   * Runs {@link BatchSizeTrackerGlobalProbe} in a fresh JVM, where ForwardContext is initialised
   * anew.
   */
  private static Result runProbe(String... options) throws Exception {
    List<String> jvmOptions = new ArrayList<>();
    List<String> probeArgs = new ArrayList<>();
    for (String option : options) {
      (option.startsWith("-") ? jvmOptions : probeArgs).add(option);
    }
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.addAll(jvmOptions);
    // The probe runs on the class path: the test classes, the library and everything the test
    // JVM has on its class path or module path.
    String classPath =
        String.join(
            File.pathSeparator,
            Path.of(
                    BatchSizeTrackerGlobalProbe.class
                        .getProtectionDomain()
                        .getCodeSource()
                        .getLocation()
                        .toURI())
                .toString(),
            System.getProperty("jdk.module.path", ""),
            System.getProperty("java.class.path", ""));
    command.addAll(List.of("-cp", classPath, BatchSizeTrackerGlobalProbe.class.getName()));
    command.addAll(probeArgs);
    ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
    builder.environment().remove(GlobalTracking.ENV);
    Process process = builder.start();
    String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(process.waitFor(60, TimeUnit.SECONDS)).isTrue();
    return new Result(process.exitValue(), output);
  }
}
