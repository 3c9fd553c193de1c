package io.github.forwardcontext;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The packaged jar without its optional dependency {@code io.micrometer:context-propagation}: the
 * core and {@code FanOut} work, and asking for thread-local propagation fails at configuration with
 * an {@link IllegalStateException} naming the dependency, not a {@link NoClassDefFoundError}. Run
 * by Failsafe after {@code package}.
 */
class WithoutContextPropagationIT {

  @Test
  void theLibraryRunsWithoutTheOptionalJarAndAskingForPropagationNamesIt(@TempDir Path dir)
      throws Exception {
    Path libraryJar =
        Path.of(ForwardContext.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    assertThat(libraryJar.getFileName().toString()).endsWith(".jar");
    String runtime = System.getProperty("forwardcontext.runtime.classpath", "");
    assertThat(runtime).contains("context-propagation");
    String withoutOptional =
        Arrays.stream(runtime.split(File.pathSeparator))
            .filter(entry -> !entry.contains("context-propagation"))
            .collect(Collectors.joining(File.pathSeparator));
    String classpath = libraryJar + File.pathSeparator + withoutOptional;

    PackagedProgram.Run run =
        PackagedProgram.compileAndRun(
            dir,
            classpath,
            """
        package check;

        import io.github.forwardcontext.ForwardContext;
        import io.github.forwardcontext.ThreadLocalContexts;
        import io.github.forwardcontext.structured.FanOut;
        import java.util.concurrent.Executors;

        public class Main {
          public static void main(String[] args) throws Exception {
            var pool = ForwardContext.taskWrapping(Executors.newSingleThreadExecutor());
            System.out.println(
                "pool="
                    + ForwardContext.where(3, () -> 1)
                        .call(() -> pool.submit(() -> ForwardContext.current().currentTimestep()))
                        .get());
            pool.shutdown();
            System.out.println(
                "fanOut=" + FanOut.named("x").invokeAll(2, i -> ForwardContext.isBound()));
            try {
              ThreadLocalContexts.fromGlobalRegistry();
              System.out.println("propagation=configured");
            } catch (IllegalStateException e) {
              System.out.println("propagation=" + e.getMessage());
            }
          }
        }
        """);
    String output = run.output();

    assertThat(run.exitCode()).as(output).isZero();
    List<String> lines = output.lines().toList();
    assertThat(lines).contains("pool=3", "fanOut=[false, false]");
    assertThat(lines)
        .filteredOn(line -> line.startsWith("propagation="))
        .singleElement()
        .asString()
        .contains("io.micrometer:context-propagation")
        .doesNotContain("configured");
  }
}
