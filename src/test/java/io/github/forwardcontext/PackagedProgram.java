package io.github.forwardcontext;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import javax.tools.ToolProvider;

/**
 * A program of one class, {@code check.Main}, compiled with {@code --release 25} against a class
 * path (the packaged jar and what a user puts beside it) and run on the build's JDK without any
 * flag, as a user's program would be: the integration tests' way to see the jar from outside.
 */
public final class PackagedProgram {
  private PackagedProgram() {}

  /** What the program printed (standard output and error) and its exit code. */
  public record Run(int exitCode, String output) {}

  /**
   * Compiles {@code source} (the text of {@code check/Main.java}) in {@code dir} and runs it.
   *
   * @param dir a scratch directory
   * @param classpath the class path to compile and run against
   * @param source the program
   * @return what the run printed, and its exit code
   */
  public static Run compileAndRun(Path dir, String classpath, String source)
      throws IOException, InterruptedException {
    Path src = dir.resolve("src/check/Main.java");
    Files.createDirectories(src.getParent());
    Files.writeString(src, source);
    Path classes = dir.resolve("classes");
    int compiled =
        ToolProvider.getSystemJavaCompiler()
            .run(
                null,
                null,
                null,
                "--release",
                "25",
                "-classpath",
                classpath,
                "-d",
                classes.toString(),
                src.toString());
    assertThat(compiled).as("javac exit code").isZero();

    Process java =
        new ProcessBuilder(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-classpath",
                classpath + File.pathSeparator + classes,
                "check.Main")
            .redirectErrorStream(true)
            .start();
    String output = new String(java.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(java.waitFor(60, TimeUnit.SECONDS)).as("the program ends").isTrue();
    return new Run(java.exitValue(), output);
  }
}
