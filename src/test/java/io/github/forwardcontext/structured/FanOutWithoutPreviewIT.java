package io.github.forwardcontext.structured;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.forwardcontext.ForwardContext;
import io.github.forwardcontext.PackagedProgram;
import java.io.File;
import java.nio.file.Path;
import java.util.List;
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

    PackagedProgram.Run run =
        PackagedProgram.compileAndRun(
            dir,
            classpath,
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
    String output = run.output();

    assertThat(run.exitCode()).as(output).isZero();
    assertThat(output.lines().toList())
        .containsAll(List.of("mode=VIRTUAL_THREADS", "seen=[0@42, 1@42, 2@42, 3@42]"));
  }
}
