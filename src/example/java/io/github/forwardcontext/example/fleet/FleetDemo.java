package io.github.forwardcontext.example.fleet;

import io.github.forwardcontext.example.pipeline.Options;
import io.github.forwardcontext.example.pipeline.Pipeline;
import io.github.forwardcontext.example.pipeline.Request;
import io.github.forwardcontext.example.pipeline.SimulatedPasses;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * Runs a fleet of example workers, each its own JVM in simulated mode serving {@code /metrics},
 * scraped by one real Prometheus server, and prints the fleet-wide latency per batch size that
 * Prometheus computes from the workers' histogram buckets next to each worker's own median.
 *
 * <pre>./mvnw -q -Pfleet                                   # 4 workers
 * ./mvnw -q -Pfleet -Dfleet.args="--workers 6"</pre>
 *
 * Needs Debian's {@code prometheus} package (or any Prometheus 2.x binary on the {@code PATH}).
 * Every process it starts is stopped before it exits, on failure and on Ctrl-C too.
 */
public final class FleetDemo {
  /** The PromQL of a fleet-wide quantile per batch size; {@code %s} is the quantile. */
  static final String QUANTILE =
      "histogram_quantile(%s, sum by (le, batch_size) (forward_pass_seconds_bucket{stage=\"denoise\"}))";

  /** The PromQL of the fleet-wide pass count per batch size. */
  static final String COUNT = "sum by (batch_size) (forward_pass_seconds_count{stage=\"denoise\"})";

  /** The PromQL of the fleet-wide time spent per batch size, in seconds. */
  static final String SECONDS = "sum by (batch_size) (forward_pass_seconds_sum{stage=\"denoise\"})";

  private static final String BATCH_SIZE = "batch_size";
  private static final Duration START_TIMEOUT = Duration.ofSeconds(60);
  private static final Duration SCRAPE_TIMEOUT = Duration.ofSeconds(30);
  private static final int BAR = 28;

  private FleetDemo() {}

  /**
   * The arguments of worker {@code index} of a fleet: the example pipeline in simulated mode with
   * its own seed ({@code 42 + index}).
   */
  static List<String> workerArguments(int index) {
    return List.of(
        "--requests",
        "6",
        "--steps",
        "60",
        "--batch-sizes",
        "1,2,4,8,16,32",
        "--layers",
        "1",
        "--heads",
        "2",
        "--dim",
        "16",
        "--simulate",
        "20",
        "--seed",
        Long.toString(42L + index));
  }

  /**
   * Runs the demo; {@code --workers N} (1 to 16, default 4) sets the fleet's size.
   *
   * @param args the command line
   * @throws Exception if the fleet fails
   */
  public static void main(String[] args) throws Exception {
    int code = run(args, System.out, System.err);
    if (code != 0) {
      System.exit(code);
    }
  }

  static int run(String[] args, PrintStream out, PrintStream err) throws Exception {
    int workers = 4;
    if (args.length == 2 && args[0].equals("--workers") && args[1].matches("\\d{1,2}")) {
      workers = Integer.parseInt(args[1]);
    } else if (args.length != 0) {
      err.println("usage: FleetDemo [--workers N], N from 1 to 16");
      return 2;
    }
    if (workers < 1 || workers > 16) {
      err.println("error: --workers must be from 1 to 16 but was " + workers);
      return 2;
    }
    Optional<Path> prometheus = Fleet.prometheusBinary();
    if (prometheus.isEmpty()) {
      err.println(
          "error: no prometheus binary on the PATH; install it with: sudo "
              + Fleet.INSTALL_COMMAND);
      return 2;
    }

    Path dir = Files.createTempDirectory("forward-context-fleet");
    Fleet fleet = new Fleet(dir);
    Thread stopper = new Thread(fleet::close, "fleet-stopper");
    Runtime.getRuntime().addShutdownHook(stopper);
    boolean done = false;
    try {
      List<List<String>> arguments = new ArrayList<>();
      for (int i = 0; i < workers; i++) {
        arguments.add(workerArguments(i));
      }
      out.printf(
          "Starting %d workers (each its own JVM): ExamplePipeline %s --seed 42+i --serve 0%n",
          workers, String.join(" ", workerArguments(0).subList(0, 14)));
      long start = System.nanoTime();
      List<Fleet.Worker> started = fleet.startWorkers(arguments, START_TIMEOUT);
      fleet.startPrometheus(prometheus.get(), started, Duration.ofSeconds(1), START_TIMEOUT);
      out.printf(
          "Workers serving on 127.0.0.1 ports %s; Prometheus (%s) on 127.0.0.1:%d scrapes them"
              + " every 1 s%n",
          started.stream().map(w -> Integer.toString(w.port())).toList(),
          prometheus.get(),
          fleet.prometheusPort());

      Map<String, Double> expected = new TreeMap<>();
      for (Fleet.Worker worker : started) {
        worker
            .rows()
            .forEach((size, row) -> expected.merge("" + size, (double) row.count(), Double::sum));
      }
      Map<String, Double> counts = fleet.awaitQuery(COUNT, BATCH_SIZE, expected, SCRAPE_TIMEOUT);
      if (!counts.equals(expected)) {
        err.printf(
            "error: after %s Prometheus counts %s passes but the workers report %s%n",
            SCRAPE_TIMEOUT, counts, expected);
        return 1;
      }
      out.printf(
          "Every worker's last pass is in Prometheus after %.1f s%n%n",
          (System.nanoTime() - start) / 1e9);
      report(out, started, counts, fleet);
      done = true;
    } finally {
      fleet.close();
      Runtime.getRuntime().removeShutdownHook(stopper);
      if (done) {
        deleteTree(dir);
      } else {
        err.println("The logs of the workers and of Prometheus are kept in " + dir);
      }
    }
    out.printf("%nStopped %d workers and Prometheus.%n", workers);
    return 0;
  }

  private static void report(
      PrintStream out, List<Fleet.Worker> workers, Map<String, Double> counts, Fleet fleet)
      throws IOException, InterruptedException {
    Map<String, Double> p50 = fleet.query(QUANTILE.formatted("0.5"), BATCH_SIZE);
    Map<String, Double> p99 = fleet.query(QUANTILE.formatted("0.99"), BATCH_SIZE);
    Map<String, Double> seconds = fleet.query(SECONDS, BATCH_SIZE);
    TreeSet<Integer> sizes = new TreeSet<>();
    counts.keySet().forEach(size -> sizes.add(Integer.parseInt(size)));

    Map<Integer, long[]> truth = trueDurations(workers.size());
    out.println("Forward passes by batch size: fleet-wide from Prometheus, medians per worker");
    out.printf(
        "%5s %11s %9s %8s %9s %8s   %s%n",
        "", "", "fleet p50", "", "fleet p99", "", "each worker's own");
    out.printf(
        "%5s %11s %9s %8s %9s %8s   %s%n",
        "batch", "fleet count", "PromQL", "true", "PromQL", "true", "median (ms)");
    for (int size : sizes) {
      String key = Integer.toString(size);
      StringBuilder medians = new StringBuilder();
      for (Fleet.Worker worker : workers) {
        Fleet.Row row = worker.rows().get(size);
        medians.append(row == null ? "      -" : "%7.1f".formatted(row.medianMillis()));
      }
      long[] known = truth.get(size);
      out.printf(
          "%5d %11.0f %9.1f %8.1f %9.1f %8.1f   %s%n",
          size,
          counts.get(key),
          p50.get(key) * 1e3,
          nearestRank(known, 0.5) / 1e6,
          p99.get(key) * 1e3,
          nearestRank(known, 0.99) / 1e6,
          medians);
    }
    out.println();
    out.println("PromQL: " + QUANTILE.formatted("0.99"));
    out.println(
        "true: the pooled quantile of every simulated duration, known from the workers' seeds."
            + " PromQL");
    out.println(
        "interpolates inside the bucket that holds the quantile, so it is as precise as the"
            + " bucket (20-50 ms, ...).");
    out.println();

    double maxLatency =
        sizes.stream().mapToDouble(s -> seconds.get("" + s) / counts.get("" + s)).max().orElse(1);
    double maxThroughput =
        sizes.stream()
            .mapToDouble(s -> s * counts.get("" + s) / seconds.get("" + s))
            .max()
            .orElse(1);
    out.println(
        "Fleet mean latency (time / passes) and throughput (batch size x passes / time) by batch"
            + " size");
    out.printf("%5s  %-" + (BAR + 9) + "s  %s%n", "batch", "mean ms", "items/s");
    for (int size : sizes) {
      String key = Integer.toString(size);
      double latency = seconds.get(key) / counts.get(key);
      double throughput = size * counts.get(key) / seconds.get(key);
      out.printf(
          "%5d  %s %7.1f  %s %6.0f%n",
          size,
          bar(latency / maxLatency),
          latency * 1e3,
          bar(throughput / maxThroughput),
          throughput);
    }
  }

  /**
   * Every pass's simulated duration in a fleet of {@code workers}, by batch size, sorted: known
   * from the workers' arguments without running them.
   */
  static Map<Integer, long[]> trueDurations(int workers) {
    Map<Integer, List<Long>> durations = new TreeMap<>();
    for (int w = 0; w < workers; w++) {
      Options options = Options.parse(workerArguments(w).toArray(String[]::new));
      for (Request request : Pipeline.requests(options)) {
        for (int step = 0; step < request.steps(); step++) {
          durations
              .computeIfAbsent(request.batchSize(), size -> new ArrayList<>())
              .add(
                  SimulatedPasses.nanos(
                      options.simulate(), options.seed(), request.id(), step, request.batchSize()));
        }
      }
    }
    Map<Integer, long[]> sorted = new TreeMap<>();
    durations.forEach(
        (size, nanos) ->
            sorted.put(size, nanos.stream().mapToLong(Long::longValue).sorted().toArray()));
    return sorted;
  }

  /** {@return the smallest of the sorted values with a fraction q of them at or below it} */
  static long nearestRank(long[] sorted, double q) {
    return sorted[Math.max(1, (int) Math.ceil(q * sorted.length)) - 1];
  }

  private static String bar(double fraction) {
    int filled = (int) Math.round(Math.max(0, Math.min(1, fraction)) * BAR);
    return "#".repeat(filled) + " ".repeat(BAR - filled);
  }

  private static void deleteTree(Path dir) throws IOException {
    try (Stream<Path> paths = Files.walk(dir)) {
      for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(path);
      }
    }
  }
}
