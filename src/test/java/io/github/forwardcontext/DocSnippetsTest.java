package io.github.forwardcontext;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Docs are code: every {@code java} block of the README is a region of a compiling class in the
 * snippets package, word for word, and every javadoc {@code {@snippet}} takes its code from such a
 * region (javadoc then checks that the region exists). The snippet classes compile with the tests,
 * so a README block or a javadoc example that stops compiling fails the build.
 */
class DocSnippetsTest {

  private static final Path SNIPPETS = Path.of("src/test/java/io/github/forwardcontext/snippets");
  private static final Pattern MARKER = Pattern.compile("<!-- snippet: (\\w+)#([\\w-]+) -->");
  private static final Pattern JAVADOC_SNIPPET = Pattern.compile("\\{@snippet\\b([^}:]*)(:?)");
  private static final Pattern EXTERNAL =
      Pattern.compile(
          "class=\"io\\.github\\.forwardcontext\\.snippets\\.(\\w+)\" region=\"([\\w-]+)\"");

  record Block(int line, String marker, String code) {}

  @Test
  void everyReadmeJavaBlockIsASnippetRegionWordForWord() throws IOException {
    List<Block> blocks = javaBlocks(Files.readAllLines(Path.of("README.md")));

    assertThat(blocks).as("java blocks in README.md").isNotEmpty();
    for (Block block : blocks) {
      Matcher marker = MARKER.matcher(block.marker());
      assertThat(marker.matches())
          .as(
              "README.md line %d: a java block must follow a line <!-- snippet: Class#region -->"
                  + " naming its source in %s, but the line before it is '%s'",
              block.line(), SNIPPETS, block.marker())
          .isTrue();
      String region = region(marker.group(1), marker.group(2));
      assertThat(dedent(block.code()))
          .as("README.md line %d against %s#%s", block.line(), marker.group(1), marker.group(2))
          .isEqualTo(region);
    }
  }

  @Test
  void everyJavadocSnippetComesFromACompilingRegion() throws IOException {
    List<String> problems = new ArrayList<>();
    int external = 0;
    try (Stream<Path> files = Files.walk(Path.of("src/main/java"))) {
      for (Path file : files.filter(f -> f.toString().endsWith(".java")).toList()) {
        Matcher m = JAVADOC_SNIPPET.matcher(Files.readString(file));
        while (m.find()) {
          Matcher ext = EXTERNAL.matcher(m.group(1));
          if (!m.group(2).isEmpty() || !ext.find()) {
            problems.add(file + ": inline or unrecognised {@snippet" + m.group(1) + m.group(2));
            continue;
          }
          region(ext.group(1), ext.group(2)); // fails if the class or region is missing
          external++;
        }
      }
    }
    assertThat(problems)
        .as("javadoc snippets that do not come from the snippets package")
        .isEmpty();
    assertThat(external).isPositive();
  }

  @Test
  void aBlockThatDiffersFromItsRegionIsCaught() {
    String region = region("ReadmeSnippets", "quickstart-pipeline");
    String edited = region.replace("tracker", "trackr");

    assertThat(dedent(edited)).isNotEqualTo(region);
  }

  static List<Block> javaBlocks(List<String> lines) {
    List<Block> blocks = new ArrayList<>();
    for (int i = 0; i < lines.size(); i++) {
      if (!lines.get(i).strip().equals("```java")) {
        continue;
      }
      String marker = "";
      for (int j = i - 1; j >= 0; j--) {
        if (!lines.get(j).isBlank()) {
          marker = lines.get(j).strip();
          break;
        }
      }
      StringBuilder code = new StringBuilder();
      int j = i + 1;
      while (j < lines.size() && !lines.get(j).strip().equals("```")) {
        code.append(lines.get(j)).append('\n');
        j++;
      }
      blocks.add(new Block(i + 1, marker, code.toString()));
      i = j;
    }
    return blocks;
  }

  /** The region's lines as javadoc shows them: markup comments removed, common indent removed. */
  static String region(String className, String name) {
    Path file = SNIPPETS.resolve(className + ".java");
    List<String> lines;
    try {
      lines = Files.readAllLines(file);
    } catch (IOException e) {
      throw new UncheckedIOException("no snippet class " + file, e);
    }
    StringBuilder out = new StringBuilder();
    boolean inside = false;
    boolean found = false;
    for (String line : lines) {
      String stripped = line.strip();
      if (stripped.equals("// @start region=\"" + name + "\"")) {
        inside = true;
        found = true;
        continue;
      }
      if (inside && stripped.startsWith("// @end")) {
        break;
      }
      if (inside) {
        out.append(line.replaceAll("\\s*// @(highlight|replace|link)\\b.*$", "")).append('\n');
      }
    }
    if (!found) {
      throw new AssertionError("no region \"" + name + "\" in " + file);
    }
    return dedent(out.toString());
  }

  static String dedent(String text) {
    List<String> lines = text.lines().toList();
    int indent =
        lines.stream()
            .filter(l -> !l.isBlank())
            .mapToInt(l -> l.length() - l.stripLeading().length())
            .min()
            .orElse(0);
    StringBuilder out = new StringBuilder();
    for (String line : lines) {
      out.append(line.isBlank() ? "" : line.substring(indent).stripTrailing()).append('\n');
    }
    return out.toString().strip() + "\n";
  }
}
