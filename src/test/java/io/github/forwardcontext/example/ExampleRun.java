package io.github.forwardcontext.example;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * One run of the example's command line, its output captured: the fixture of every test that runs
 * the example as a user would.
 *
 * @param code the exit code
 * @param out what it printed on standard output
 * @param err what it printed on standard error
 */
public record ExampleRun(int code, String out, String err) {

  /** {@return the captured run of the example with {@code args}} */
  public static ExampleRun of(String... args) throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int code =
        ExamplePipeline.run(
            args,
            new PrintStream(out, true, StandardCharsets.UTF_8),
            new PrintStream(err, true, StandardCharsets.UTF_8));
    return new ExampleRun(
        code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
  }

  /** {@return the lines of standard output after the line starting with {@code heading}} */
  public List<String> section(String heading) {
    return out.lines()
        .dropWhile(l -> !l.startsWith(heading))
        .skip(1)
        .takeWhile(l -> !l.isBlank())
        .toList();
  }
}
