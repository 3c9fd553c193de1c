package io.github.forwardcontext.jmh;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.openjdk.jmh.infra.BenchmarkParams;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.CommandLineOptions;

/**
 * Runs JMH with its usual command line, then writes a markdown summary of the run beside the result
 * file ({@code -rff x.json} gives {@code x.md}; otherwise {@code target/jmh-summary.md}): every
 * score with its error and B/op, and the ratios the library is held to, computed from this run.
 */
public final class BenchMain {
  private BenchMain() {}

  /** One target: the score of one benchmark divided by another's, from the same run. */
  private record Ratio(
      String what,
      String numerator,
      String denominator,
      String params,
      double target,
      boolean atMost) {}

  private static final String P = "io.github.forwardcontext.jmh.";

  private static final List<Ratio> RATIOS =
      List.of(
          new Ratio(
              "read vs raw ScopedValue.get()",
              "ReadBenchmark.library",
              "ReadBenchmark.rawScopedValue",
              "",
              1.2,
              true),
          new Ratio(
              "bind vs raw binding",
              "BindBenchmark.library",
              "BindBenchmark.rawScopedValue",
              "",
              1.3,
              true),
          new Ratio(
              "tracked pass vs floor (1 size)",
              "TrackedPassBenchmark.tracked",
              "TrackedPassBenchmark.floor",
              "distinctSizes=1",
              1.2,
              true),
          new Ratio(
              "tracked pass vs floor (8 sizes)",
              "TrackedPassBenchmark.tracked",
              "TrackedPassBenchmark.floor",
              "distinctSizes=8",
              1.2,
              true),
          new Ratio(
              "tracked pass vs floor (1024 sizes)",
              "TrackedPassBenchmark.tracked",
              "TrackedPassBenchmark.floor",
              "distinctSizes=1024",
              1.2,
              true),
          new Ratio(
              "tracked pass vs naive Micrometer (8 sizes)",
              "TrackedPassBenchmark.tracked",
              "TrackedPassBenchmark.naiveMicrometer",
              "distinctSizes=8",
              0.9,
              true),
          new Ratio(
              "tracked pass, 1024 vs 1 batch sizes",
              "TrackedPassBenchmark.tracked",
              "TrackedPassBenchmark.tracked",
              "distinctSizes=1024|distinctSizes=1",
              1.15,
              true),
          new Ratio(
              "2-thread vs 1-thread throughput",
              "ContentionBenchmark.library2Threads",
              "ContentionBenchmark.library",
              "",
              1.5,
              false),
          new Ratio(
              "tracked pass with a handler-less observation registry vs without (8 sizes)",
              "TrackedPassBenchmark.trackedNoopObservation",
              "TrackedPassBenchmark.tracked",
              "distinctSizes=8",
              1.3,
              true),
          new Ratio(
              "fan-out vs raw ScopedValue fan-out",
              "FanOutBenchmark.library",
              "FanOutBenchmark.rawScopedValue",
              "",
              1.1,
              true),
          new Ratio(
              "per-layer read vs raw Map.get (48 layers)",
              "PerLayerReadBenchmark.library",
              "PerLayerReadBenchmark.rawMapGet",
              "",
              1.2,
              true),
          new Ratio(
              "batcher round trip vs SynchronousQueue hand-off",
              "BatcherBenchmark.roundTripBatcher",
              "BatcherBenchmark.roundTripSynchronousQueue",
              "",
              2.0,
              true),
          new Ratio(
              "batcher throughput, maxBatchSize 16 vs 1",
              "BatcherBenchmark.throughput",
              "BatcherBenchmark.throughput",
              "maxBatchSize=16|maxBatchSize=1",
              8.0,
              false));

  /**
   * Runs the benchmarks the command line selects.
   *
   * @param args JMH's command line
   * @throws Exception if JMH fails
   */
  public static void main(String[] args) throws Exception {
    CommandLineOptions options = new CommandLineOptions(args);
    if (options.shouldHelp()
        || options.shouldList()
        || options.shouldListWithParams()
        || options.shouldListProfilers()
        || options.shouldListResultFormats()) {
      org.openjdk.jmh.Main.main(args);
      return;
    }
    Collection<RunResult> results = new Runner(options).run();
    String markdown = summary(results);
    Path out =
        options.getResult().hasValue()
            ? Path.of(options.getResult().get().replaceAll("\\.json$", "") + ".md")
            : Path.of("target", "jmh-summary.md");
    write(out, markdown);
    System.out.println();
    System.out.println(markdown);
    System.out.println("Summary written to " + out.toAbsolutePath());
  }

  private static void write(Path out, String markdown) throws IOException {
    if (out.getParent() != null) {
      Files.createDirectories(out.getParent());
    }
    Files.writeString(out, markdown);
  }

  static String summary(Collection<RunResult> results) {
    Map<String, RunResult> byKey = new TreeMap<>();
    for (RunResult r : results) {
      byKey.put(key(r.getParams()), r);
    }
    StringBuilder md = new StringBuilder();
    md.append("| Benchmark | Params | Threads | Mode | Score | Error | Units | B/op |\n");
    md.append("|---|---|---:|---|---:|---:|---|---:|\n");
    for (RunResult r : byKey.values()) {
      BenchmarkParams p = r.getParams();
      Result<?> primary = r.getPrimaryResult();
      md.append(
          String.format(
              Locale.ROOT,
              "| %s | %s | %d | %s | %s | %s | %s | %s |%n",
              shortName(p.getBenchmark()),
              params(p),
              p.getThreads(),
              p.getMode().shortLabel(),
              number(primary.getScore()),
              number(primary.getScoreError()),
              primary.getScoreUnit(),
              allocation(r).map(BenchMain::number).orElse("")));
    }
    md.append("\n| Target | Ratio | Allowed | Met |\n|---|---:|---:|---|\n");
    for (Ratio ratio : RATIOS) {
      String[] params = ratio.params().split("\\|", -1);
      RunResult a = byKey.get(ratio.numerator() + "|" + params[0]);
      RunResult b = byKey.get(ratio.denominator() + "|" + params[params.length - 1]);
      if (a == null || b == null) {
        continue; // not part of this run
      }
      double value = a.getPrimaryResult().getScore() / b.getPrimaryResult().getScore();
      boolean met = ratio.atMost() ? value <= ratio.target() : value >= ratio.target();
      md.append(
          String.format(
              Locale.ROOT,
              "| %s | %.3f | %s %.2f | %s |%n",
              ratio.what(),
              value,
              ratio.atMost() ? "≤" : "≥",
              ratio.target(),
              met ? "yes" : "**no**"));
    }
    scaling(md, byKey);
    return md.toString();
  }

  /** Two threads against one, for the tracker and for the floor: the tracker's share of it. */
  private static void scaling(StringBuilder md, Map<String, RunResult> byKey) {
    RunResult library = byKey.get("ContentionBenchmark.library|");
    RunResult library2 = byKey.get("ContentionBenchmark.library2Threads|");
    RunResult floor = byKey.get("ContentionBenchmark.floor|");
    RunResult floor2 = byKey.get("ContentionBenchmark.floor2Threads|");
    if (library == null || library2 == null || floor == null || floor2 == null) {
      return;
    }
    double value =
        (library2.getPrimaryResult().getScore() / library.getPrimaryResult().getScore())
            / (floor2.getPrimaryResult().getScore() / floor.getPrimaryResult().getScore());
    md.append(
        String.format(
            Locale.ROOT,
            "| 2-thread scaling vs the floor's 2-thread scaling | %.3f | ≥ 0.90 | %s |%n",
            value,
            value >= 0.9 ? "yes" : "**no**"));
  }

  private static String key(BenchmarkParams p) {
    return shortName(p.getBenchmark()) + "|" + params(p);
  }

  private static String shortName(String benchmark) {
    return benchmark.startsWith(P) ? benchmark.substring(P.length()) : benchmark;
  }

  private static String params(BenchmarkParams p) {
    List<String> kv = new ArrayList<>();
    for (String k : p.getParamsKeys()) {
      kv.add(k + "=" + p.getParam(k));
    }
    return kv.stream().collect(Collectors.joining(","));
  }

  private static Optional<Double> allocation(RunResult r) {
    for (Map.Entry<String, Result> e : r.getSecondaryResults().entrySet()) {
      if (e.getKey().endsWith("gc.alloc.rate.norm")) {
        return Optional.of(e.getValue().getScore());
      }
    }
    return Optional.empty();
  }

  private static String number(double v) {
    if (Double.isNaN(v)) {
      return "";
    }
    return Math.abs(v) >= 100
        ? String.format(Locale.ROOT, "%.0f", v)
        : String.format(Locale.ROOT, "%.3f", v);
  }
}
