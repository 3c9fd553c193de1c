package io.github.forwardcontext;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The packaged jar works on the module path: a named module that {@code requires
 * io.github.forwardcontext} compiles against it and runs a tracked pass, without --enable-preview.
 * Run by Failsafe after {@code package}.
 */
class ModulePathIT {

  @Test
  void aNamedModuleRequiringTheLibraryCompilesAndRuns(@TempDir Path dir) throws Exception {
    Path libraryJar = jarOf(ForwardContext.class);
    assertThat(libraryJar.getFileName().toString()).endsWith(".jar");
    // The library's runtime dependencies, as Maven resolved them (see the pom's failsafe setup).
    String runtimeClasspath = System.getProperty("forwardcontext.runtime.classpath", "");
    assertThat(runtimeClasspath).contains("micrometer-core").contains("HdrHistogram");
    String modulePath = libraryJar + File.pathSeparator + runtimeClasspath;

    Path src = dir.resolve("src/check");
    Files.createDirectories(src.resolve("check"));
    Files.writeString(
        src.resolve("module-info.java"),
        "module check { requires io.github.forwardcontext; requires micrometer.core; }");
    Files.writeString(
        src.resolve("check/Main.java"),
        """
        package check;

        import io.github.forwardcontext.BatchSizeTracker;
        import io.github.forwardcontext.ForwardContext;
        import io.micrometer.core.instrument.simple.SimpleMeterRegistry;

        public class Main {
          public static void main(String[] args) {
            BatchSizeTracker tracker = BatchSizeTracker.builder(new SimpleMeterRegistry()).build();
            for (int i = 0; i < 3; i++) {
              tracker.where(i, () -> 4).run(() -> ForwardContext.current().currentTimestep());
            }
            System.out.println("module=" + ForwardContext.class.getModule().getName());
            System.out.println("rows=" + tracker.stats().size());
          }
        }
        """);
    Path classes = dir.resolve("classes");
    int compiled =
        ToolProvider.getSystemJavaCompiler()
            .run(
                null,
                null,
                null,
                "--module-path",
                modulePath,
                "-d",
                classes.toString(),
                src.resolve("module-info.java").toString(),
                src.resolve("check/Main.java").toString());
    assertThat(compiled).as("javac exit code").isZero();

    Process java =
        new ProcessBuilder(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--module-path",
                modulePath + File.pathSeparator + classes,
                "--module",
                "check/check.Main")
            .redirectErrorStream(true)
            .start();
    String output = new String(java.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(java.waitFor(60, TimeUnit.SECONDS)).isTrue();

    assertThat(java.exitValue()).as(output).isZero();
    assertThat(output.lines().toList())
        .containsAll(List.of("module=io.github.forwardcontext", "rows=1"));
  }

  private static Path jarOf(Class<?> type) throws Exception {
    return Path.of(type.getProtectionDomain().getCodeSource().getLocation().toURI());
  }
}
