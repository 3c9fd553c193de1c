package io.github.forwardcontext.structured;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.forwardcontext.ForwardContext;
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
 * A program compiled against the packaged jar, without {@code --enable-preview}, and run on the
 * build's JDK 25 without the flag: {@code FanOut} works in its virtual-thread mode and its subtasks
 * see the forward context. Run by Failsafe after {@code package}.
 */
class FanOutWithoutPreviewIT {

  @Test
  void aProgramWithoutThePreviewFlagFansOutAndItsSubtasksSeeTheContext(@TempDir Path dir)
      throws Exception {
    Path libraryJar =
        Path.of(FanOut.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    assertThat(libraryJar.getFileName().toString()).endsWith(".jar");
    assertThat(ForwardContext.class.getProtectionDomain().getCodeSource().getLocation().toURI())
        .isEqualTo(libraryJar.toUri());
    String classpath =
        libraryJar
            + File.pathSeparator
            + System.getProperty("forwardcontext.runtime.classpath", "");

    Path src = dir.resolve("src/check/Main.java");
    Files.createDirectories(src.getParent());
    Files.writeString(
        src,
        """
        package check;

        import io.github.forwardcontext.ForwardContext;
        import io.github.forwardcontext.structured.FanOut;
        import java.util.List;

        public class Main {
          public static void main(String[] args) throws Exception {
            FanOut heads = FanOut.named("head").withMaxParallelism(2);
            List<String> seen =
                ForwardContext.where(42, () -> 3)
                    .call(
                        () ->
                            heads.invokeAll(
                                4,
                                i -> i + "@" + ForwardContext.current().currentTimestep()));
            System.out.println("mode=" + heads.mode());
            System.out.println("seen=" + seen);
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
    assertThat(java.waitFor(60, TimeUnit.SECONDS)).isTrue();

    assertThat(java.exitValue()).as(output).isZero();
    assertThat(output.lines().toList())
        .containsAll(List.of("mode=VIRTUAL_THREADS", "seen=[0@42, 1@42, 2@42, 3@42]"));
  }
}
