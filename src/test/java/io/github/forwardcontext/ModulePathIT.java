package io.github.forwardcontext;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.lang.module.ModuleDescriptor;
import java.lang.module.ModuleDescriptor.Exports;
import java.lang.module.ModuleDescriptor.Requires;
import java.lang.module.ModuleFinder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The packaged jar as the named module {@code io.github.forwardcontext} on the module path: its
 * descriptor exports the public packages only, a module that requires it compiles and runs a
 * tracked pass and a fan-out with and without {@code --enable-preview} and with and without the
 * optional {@code context-propagation}, and a module cannot compile against the internal package.
 * Run by Failsafe after {@code package}; each program is a JVM of its own, started without any flag
 * but the ones named.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class ModulePathIT {
  private static final String MODULE = "io.github.forwardcontext";

  /** What the module exports: its supported API. */
  private static final Set<String> EXPORTED =
      Set.of(
          "io.github.forwardcontext",
          "io.github.forwardcontext.batching",
          "io.github.forwardcontext.observation",
          "io.github.forwardcontext.structured",
          "io.github.forwardcontext.tracing");

  private static final String INTERNAL = "io.github.forwardcontext.internal";

  /** Requires nothing but the library: Micrometer comes through its requires transitive. */
  private static final String CHECK_MODULE = "module check { requires io.github.forwardcontext; }";

  private static final String CHECK_MAIN =
      """
      package check;

      import io.github.forwardcontext.BatchSizeTracker;
      import io.github.forwardcontext.ForwardContext;
      import io.github.forwardcontext.ThreadLocalContexts;
      import io.github.forwardcontext.structured.FanOut;
      import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
      import java.util.List;

      public class Main {
        public static void main(String[] args) throws Exception {
          SimpleMeterRegistry registry = new SimpleMeterRegistry();
          BatchSizeTracker tracker = BatchSizeTracker.builder(registry).build();
          List<String> seen = List.of();
          for (int step = 0; step < 3; step++) {
            seen =
                tracker
                    .where(7, () -> 4)
                    .call(
                        () ->
                            FanOut.named("check")
                                .invokeAll(
                                    2,
                                    i -> i + "@" + ForwardContext.current().currentTimestep()));
          }
          Module library = ForwardContext.class.getModule();
          System.out.println("module=" + library.getName());
          System.out.println("mode=" + FanOut.defaultMode());
          System.out.println("subtasks=" + seen);
          System.out.println(
              "passes=" + registry.get(BatchSizeTracker.METER_NAME).timer().count());
          System.out.println("rows=" + tracker.stats().size());
          System.out.println(
              "internalExported=" + library.isExported("io.github.forwardcontext.internal"));
          try {
            ThreadLocalContexts.fromGlobalRegistry();
            System.out.println("threadLocalContexts=configured");
          } catch (IllegalStateException e) {
            System.out.println("threadLocalContexts=" + e.getMessage());
          }
        }
      }
      """;

  /** An application that uses thread-local propagation requires context-propagation itself. */
  private static final String CONTEXTS_MODULE =
      "module check.contexts { requires io.github.forwardcontext; requires context.propagation; }";

  private static final String CONTEXTS_MAIN =
      """
      package check.contexts;

      import io.github.forwardcontext.ForwardContext;
      import io.github.forwardcontext.ThreadLocalContexts;
      import io.github.forwardcontext.structured.FanOut;
      import io.micrometer.context.ContextRegistry;
      import io.micrometer.context.ContextSnapshotFactory;
      import java.util.List;
      import java.util.concurrent.atomic.AtomicReference;

      public class Main {
        static final ThreadLocal<String> REQUEST = new ThreadLocal<>();

        public static void main(String[] args) throws Exception {
          ContextRegistry registry = new ContextRegistry();
          registry.registerThreadLocalAccessor("check.request", REQUEST);
          ThreadLocalContexts contexts =
              ThreadLocalContexts.using(
                  ContextSnapshotFactory.builder().contextRegistry(registry).build());
          REQUEST.set("r-1");

          AtomicReference<String> onOtherThread = new AtomicReference<>();
          Runnable task =
              ForwardContext.where(3, () -> 1)
                  .call(
                      () ->
                          contexts.wrap(
                              () ->
                                  onOtherThread.set(
                                      REQUEST.get()
                                          + "@"
                                          + ForwardContext.current().currentTimestep())));
          Thread thread = Thread.ofPlatform().start(task);
          thread.join();
          System.out.println("wrapped=" + onOtherThread.get());

          FanOut heads = FanOut.named("check").withThreadLocalContexts(contexts);
          List<String> seen = heads.invokeAll(2, i -> i + ":" + REQUEST.get());
          System.out.println("mode=" + heads.mode());
          System.out.println("subtasks=" + seen);

          ThreadLocalContexts.fromGlobalRegistry();
          System.out.println("globalRegistry=configured");
        }
      }
      """;

  /** A use of the unexported package, which javac must refuse. */
  private static final String INTRUDER_MAIN =
      """
      package intruder;

      import io.github.forwardcontext.internal.Durations;

      public class Main {
        public static void main(String[] args) {
          System.out.println(Durations.class);
        }
      }
      """;

  @TempDir static Path dir;

  private static Path libraryJar;
  private static List<String> dependencies;
  private static Path contextPropagationJar;
  private static Path checkClasses;
  private static Path contextsClasses;

  @BeforeAll
  static void compileTheCheckModules() throws Exception {
    libraryJar =
        Path.of(ForwardContext.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    assertThat(libraryJar.getFileName().toString()).endsWith(".jar");
    // The library's runtime dependencies, as Maven resolved them (see the pom's failsafe setup).
    List<String> runtime =
        Arrays.stream(
                System.getProperty("forwardcontext.runtime.classpath", "")
                    .split(File.pathSeparator))
            .filter(entry -> !entry.isBlank())
            .toList();
    dependencies =
        runtime.stream().filter(entry -> !entry.contains("context-propagation")).toList();
    assertThat(String.join(File.pathSeparator, dependencies))
        .contains("micrometer-core")
        .contains("micrometer-observation")
        .contains("HdrHistogram");
    List<String> optional =
        runtime.stream().filter(entry -> entry.contains("context-propagation")).toList();
    assertThat(optional).hasSize(1);
    contextPropagationJar = Path.of(optional.getFirst());

    // Compiled without context-propagation anywhere on the module path.
    checkClasses = compile("check", CHECK_MODULE, Map.of("check/Main.java", CHECK_MAIN), false);
    contextsClasses =
        compile(
            "check.contexts",
            CONTEXTS_MODULE,
            Map.of("check/contexts/Main.java", CONTEXTS_MAIN),
            true);
  }

  @Test
  void theDescriptorExportsThePublicPackagesOnlyAndRequiresContextPropagationStatically() {
    ModuleDescriptor descriptor =
        ModuleFinder.of(libraryJar).find(MODULE).orElseThrow().descriptor();

    assertThat(descriptor.isAutomatic()).as("a module-info, not an automatic module").isFalse();
    assertThat(descriptor.exports()).allMatch(exports -> !exports.isQualified());
    assertThat(descriptor.exports().stream().map(Exports::source).collect(Collectors.toSet()))
        .isEqualTo(EXPORTED);
    assertThat(descriptor.packages()).contains(INTERNAL);
    Map<String, Set<Requires.Modifier>> requires =
        descriptor.requires().stream()
            .collect(Collectors.toMap(Requires::name, Requires::modifiers));
    assertThat(requires.get("context.propagation")).contains(Requires.Modifier.STATIC);
    assertThat(requires.get("micrometer.tracing")).contains(Requires.Modifier.STATIC);
    for (String micrometer :
        List.of("micrometer.core", "micrometer.observation", "micrometer.commons")) {
      assertThat(requires.get(micrometer))
          .as(micrometer)
          .containsExactly(Requires.Modifier.TRANSITIVE);
    }
  }

  @Test
  void aModuleCannotCompileAgainstTheInternalPackage() throws Exception {
    Path src = dir.resolve("src/intruder");
    Files.createDirectories(src.resolve("intruder"));
    Files.writeString(
        src.resolve("module-info.java"), "module intruder { requires io.github.forwardcontext; }");
    Files.writeString(src.resolve("intruder/Main.java"), INTRUDER_MAIN);
    ByteArrayOutputStream errors = new ByteArrayOutputStream();

    int compiled =
        ToolProvider.getSystemJavaCompiler()
            .run(
                null,
                null,
                errors,
                "--class-path",
                emptyClassPath(),
                "--module-path",
                modulePath(false),
                "-d",
                dir.resolve("classes/intruder").toString(),
                src.resolve("module-info.java").toString(),
                src.resolve("intruder/Main.java").toString());

    String diagnostics = errors.toString(StandardCharsets.UTF_8);
    assertThat(compiled).as(diagnostics).isNotZero();
    assertThat(diagnostics)
        .contains("package " + INTERNAL + " is not visible")
        .contains(
            "package "
                + INTERNAL
                + " is declared in module "
                + MODULE
                + ", which does not export it");
  }

  @ParameterizedTest(name = "--enable-preview: {0}")
  @ValueSource(booleans = {false, true})
  void aModuleRequiringTheLibraryRunsWithoutContextPropagation(boolean preview) throws Exception {
    String output = run(preview, modulePath(false) + File.pathSeparator + checkClasses, "check");

    assertThat(output.lines().toList())
        .contains(
            "module=" + MODULE,
            "mode=" + (preview ? "STRUCTURED" : "VIRTUAL_THREADS"),
            "subtasks=[0@7, 1@7]",
            "passes=3",
            "rows=1",
            "internalExported=false");
    assertThat(output.lines())
        .filteredOn(line -> line.startsWith("threadLocalContexts="))
        .singleElement()
        .asString()
        .contains("io.micrometer:context-propagation")
        .doesNotContain("configured");
  }

  @ParameterizedTest(name = "--enable-preview: {0}")
  @ValueSource(booleans = {false, true})
  void aModuleRequiringContextPropagationCarriesThreadLocalsIntoTasks(boolean preview)
      throws Exception {
    String output =
        run(preview, modulePath(true) + File.pathSeparator + contextsClasses, "check.contexts");

    assertThat(output.lines().toList())
        .contains(
            "wrapped=r-1@3",
            "mode=" + (preview ? "STRUCTURED" : "VIRTUAL_THREADS"),
            "subtasks=[0:r-1, 1:r-1]",
            "globalRegistry=configured");
  }

  /**
   * An empty directory: javac run in this JVM would otherwise compile against this JVM's class
   * path, which holds the library too, in the unnamed module.
   */
  private static String emptyClassPath() throws IOException {
    return Files.createDirectories(dir.resolve("empty-class-path")).toString();
  }

  private static String modulePath(boolean withContextPropagation) {
    List<String> entries = new ArrayList<>();
    entries.add(libraryJar.toString());
    entries.addAll(dependencies);
    if (withContextPropagation) {
      entries.add(contextPropagationJar.toString());
    }
    return String.join(File.pathSeparator, entries);
  }

  private static Path compile(
      String module, String descriptor, Map<String, String> sources, boolean withContextPropagation)
      throws IOException {
    Path src = dir.resolve("src/" + module);
    List<String> args = new ArrayList<>();
    args.addAll(
        List.of(
            "--release",
            "25",
            "--class-path",
            emptyClassPath(),
            "--module-path",
            modulePath(withContextPropagation),
            "-d",
            dir.resolve("classes/" + module).toString()));
    Files.createDirectories(src);
    Files.writeString(src.resolve("module-info.java"), descriptor);
    args.add(src.resolve("module-info.java").toString());
    for (Map.Entry<String, String> source : sources.entrySet()) {
      Path file = src.resolve(source.getKey());
      Files.createDirectories(file.getParent());
      Files.writeString(file, source.getValue());
      args.add(file.toString());
    }
    ByteArrayOutputStream errors = new ByteArrayOutputStream();
    int compiled =
        ToolProvider.getSystemJavaCompiler().run(null, null, errors, args.toArray(String[]::new));
    assertThat(compiled).as(errors.toString(StandardCharsets.UTF_8)).isZero();
    return dir.resolve("classes/" + module);
  }

  /** Runs {@code module}'s {@code Main} on the build's JDK and returns what it printed. */
  private static String run(boolean preview, String modulePath, String module)
      throws IOException, InterruptedException {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    if (preview) {
      command.add("--enable-preview");
    }
    command.addAll(
        List.of("--module-path", modulePath, "--module", module + "/" + module + ".Main"));
    Path log = Files.createTempFile(dir, module, ".log");
    Process java =
        new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    boolean ended = java.waitFor(60, TimeUnit.SECONDS);
    if (!ended) {
      java.destroyForcibly().waitFor();
    }
    String output = Files.readString(log);
    assertThat(ended).as("the program ends within a minute: %s", output).isTrue();
    assertThat(java.exitValue()).as(output).isZero();
    return output;
  }
}
