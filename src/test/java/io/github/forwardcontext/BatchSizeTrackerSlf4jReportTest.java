package io.github.forwardcontext;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * In an SLF4J application, with {@code slf4j-jdk-platform-logging} on the class path, the report
 * line arrives through SLF4J in Logback, under the documented logger name and level. Runs {@link
 * BatchSizeTrackerSlf4jReportProbe} in a JVM of its own, because the bridge takes over {@code
 * System.Logger} for the whole JVM.
 */
class BatchSizeTrackerSlf4jReportTest {

  @Test
  void theReportLineReachesLogbackThroughSlf4jWithItsLoggerNameAndLevel() throws Exception {
    String bridge = System.getProperty("forwardcontext.slf4j.bridge");
    assertThat(bridge).as("path of slf4j-jdk-platform-logging, set by the build").isNotBlank();
    String classPath =
        String.join(
            File.pathSeparator,
            Path.of(
                    BatchSizeTrackerSlf4jReportProbe.class
                        .getProtectionDomain()
                        .getCodeSource()
                        .getLocation()
                        .toURI())
                .toString(),
            bridge,
            System.getProperty("java.class.path"));
    Process process =
        new ProcessBuilder(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp",
                classPath,
                BatchSizeTrackerSlf4jReportProbe.class.getName())
            .redirectErrorStream(true)
            .start();
    String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(process.waitFor(60, TimeUnit.SECONDS)).isTrue();

    assertThat(process.exitValue()).as(output).isZero();
    List<String> lines = output.lines().filter(l -> l.startsWith("logback ")).toList();
    assertThat(lines)
        .as(output)
        .singleElement()
        .asString()
        .startsWith(
            "logback INFO io.github.forwardcontext.BatchSizeTracker "
                + BatchSizeTracker.REPORT_PREFIX
                + "[(8, 3, ");
    // The report is made off the pass's thread, and the pass's request context does not tag it.
    assertThat(output.lines().filter(l -> l.startsWith("report-thread ")))
        .as(output)
        .singleElement()
        .asString()
        .startsWith("report-thread forward-context-report mdc={} pass-thread main");
  }
}
