package io.github.forwardcontext;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The core package runs without --enable-preview: javac marks a class file that uses a preview API
 * with minor version 0xFFFF, and no core class may carry that mark.
 */
class PreviewMarkerTest implements NoContextLeftBound {

  private static final int PREVIEW_MINOR = 0xFFFF;

  @Test
  void everyCoreClassFileHasMinorVersionZero() throws Exception {
    Map<String, Integer> minors = minorVersions(packageDirectory(ForwardContext.class));

    assertThat(minors)
        .containsKeys(
            "ForwardContext.class", "BatchSizeTracker$TrackedPass.class", "BatchSizeTracker.class")
        .allSatisfy((file, minor) -> assertThat(minor).as(file).isZero());
  }

  @Test
  void theStructuredPackageIsWhereThePreviewApiIsUsed() throws Exception {
    Map<String, Integer> minors =
        minorVersions(packageDirectory(ForwardContext.class).resolve("structured"));

    // Proves the check above can see the mark, and that it sits in one class only.
    assertThat(minors).containsEntry("StructuredScopes.class", PREVIEW_MINOR);
    // FanOut and its fallback load without the flag: FanOut reaches StructuredScopes by name only.
    assertThat(minors)
        .containsEntry("FanOut.class", 0)
        .containsEntry("VirtualThreads.class", 0)
        .containsEntry("Forking.class", 0);
    assertThat(minors.entrySet().stream().filter(e -> e.getValue() == PREVIEW_MINOR).toList())
        .hasSize(1);
  }

  @Test
  void everyBatchingClassFileHasMinorVersionZero() throws Exception {
    Map<String, Integer> minors =
        minorVersions(packageDirectory(ForwardContext.class).resolve("batching"));

    assertThat(minors)
        .containsKeys("DynamicBatcher.class", "BatchFunction.class", "Batch.class")
        .allSatisfy((file, minor) -> assertThat(minor).as(file).isZero());
  }

  private static Path packageDirectory(Class<?> type) throws Exception {
    Path root = Path.of(type.getProtectionDomain().getCodeSource().getLocation().toURI());
    return root.resolve(type.getPackageName().replace('.', '/'));
  }

  private static Map<String, Integer> minorVersions(Path directory) throws IOException {
    Map<String, Integer> minors = new TreeMap<>();
    List<Path> classFiles;
    try (Stream<Path> files = Files.list(directory)) {
      classFiles = files.filter(p -> p.toString().endsWith(".class")).toList();
    }
    for (Path classFile : classFiles) {
      try (InputStream in = Files.newInputStream(classFile);
          DataInputStream data = new DataInputStream(in)) {
        assertThat(data.readInt()).as("magic of %s", classFile).isEqualTo(0xCAFEBABE);
        minors.put(classFile.getFileName().toString(), data.readUnsignedShort());
      }
    }
    return minors;
  }
}
