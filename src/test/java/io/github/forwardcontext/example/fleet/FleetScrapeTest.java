package io.github.forwardcontext.example.fleet;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import io.github.forwardcontext.ForwardPassHistograms;
import io.github.forwardcontext.example.pipeline.Options;
import io.github.forwardcontext.example.pipeline.SimulatedPasses;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Three example workers, each its own JVM in simulated mode, scraped by one real Prometheus server
 * (Debian's {@code prometheus} package): the fleet demo's machinery, checked against durations
 * known in advance. Runs with {@code ./mvnw -Pprometheus-it verify}; never skipped when asked for.
 */
@Tag("prometheus")
class FleetScrapeTest {
  private static final int WORKERS = 3;
  private static final Duration TIMEOUT = Duration.ofSeconds(60);
  private static final List<Duration> BUCKETS = ForwardPassHistograms.defaultBuckets();

  @TempDir static Path dir;

  private static Fleet fleet;
  private static List<Fleet.Worker> workers;
  private static Map<String, Double> fleetCounts;

  @BeforeAll
  @Timeout(value = 150, unit = TimeUnit.SECONDS)
  static void startTheFleetAndWaitForItsPasses() throws Exception {
    Path binary =
        Fleet.prometheusBinary()
            .orElseGet(
                () ->
                    fail(
                        "The prometheus binary is not on the PATH. Install it with 'sudo "
                            + Fleet.INSTALL_COMMAND
                            + "' (Debian/Ubuntu) or put a Prometheus 2.x 'prometheus' binary on"
                            + " the PATH, then run ./mvnw -Pprometheus-it verify again."));
    fleet = new Fleet(dir);
    List<List<String>> arguments = new ArrayList<>();
    for (int i = 0; i < WORKERS; i++) {
      arguments.add(FleetDemo.workerArguments(i));
    }
    workers = fleet.startWorkers(arguments, TIMEOUT);
    fleet.startPrometheus(binary, workers, Duration.ofSeconds(1), TIMEOUT);
    fleetCounts = fleet.awaitQuery(FleetDemo.COUNT, "batch_size", sumOfWorkerCounts(), TIMEOUT);
  }

  @AfterAll
  static void stopEveryProcess() {
    if (fleet != null) {
      fleet.close();
    }
    if (workers != null) {
      assertThat(workers).noneMatch(worker -> worker.process().isAlive());
    }
  }

  @Test
  void theFleetCountOfEachBatchSizeIsTheSumOfTheWorkersCounts() {
    Map<String, Double> known = new TreeMap<>();
    truePassDurations().forEach((size, nanos) -> known.put("" + size, (double) nanos.size()));

    assertThat(fleetCounts).isEqualTo(sumOfWorkerCounts()).isEqualTo(known);
  }

  @Test
  void fleetQuantilesFallInTheBucketOfTheTruePooledQuantiles() throws Exception {
    // histogram_quantile finds the bucket that holds the quantile's rank, the bucket that holds the
    // true quantile too, and interpolates inside it: the estimate lies within that bucket's bounds.
    Map<Integer, List<Long>> durations = truePassDurations();
    for (double q : new double[] {0.5, 0.99}) {
      Map<String, Double> estimated =
          fleet.query(FleetDemo.QUANTILE.formatted(Double.toString(q)), "batch_size");
      assertThat(estimated).hasSize(durations.size());
      durations.forEach(
          (size, nanos) -> {
            double truth = nearestRank(nanos, q) / 1e9;
            double estimate = estimated.get("" + size);
            int bucket = bucket(truth);
            double lower = bucket == 0 ? 0 : BUCKETS.get(bucket - 1).toNanos() / 1e9;
            double upper =
                bucket == BUCKETS.size()
                    ? Double.POSITIVE_INFINITY
                    : BUCKETS.get(bucket).toNanos() / 1e9;
            assertThat(estimate)
                .as(
                    "p%s of batch size %d: true %.4f s in the bucket (%s, %s], from Prometheus %.4f s",
                    q, size, truth, lower, upper, estimate)
                .isBetween(lower * (1 - 1e-9), upper * (1 + 1e-9));
          });
    }
  }

  @Test
  void eachWorkerExportsNoMoreForwardPassSeriesThanTheBound() throws Exception {
    // BatchSizeTracker's javadoc: (maxBatchSizes + 1) x (buckets + 4) series, 256 sizes by
    // default when histograms are on.
    int bound = (256 + 1) * (BUCKETS.size() + 4);
    int sizes = truePassDurations().size();
    for (Fleet.Worker worker : workers) {
      long series =
          fleet
              .scrape(worker)
              .lines()
              .filter(line -> line.startsWith("forward_pass") && line.contains("stage=\"denoise\""))
              .count();

      assertThat(series).isEqualTo(sizes * (BUCKETS.size() + 4L)).isLessThanOrEqualTo(bound);
    }
  }

  private static Map<String, Double> sumOfWorkerCounts() {
    Map<String, Double> sum = new TreeMap<>();
    for (Fleet.Worker worker : workers) {
      worker.rows().forEach((size, row) -> sum.merge("" + size, (double) row.count(), Double::sum));
    }
    return sum;
  }

  /**
   * Every pass's duration by batch size, over all workers, from the simulation's definition: what
   * the fleet should have measured, computed without running it.
   */
  private static Map<Integer, List<Long>> truePassDurations() {
    Map<Integer, List<Long>> durations = new TreeMap<>();
    for (int w = 0; w < WORKERS; w++) {
      Options options = Options.parse(FleetDemo.workerArguments(w).toArray(String[]::new));
      List<Integer> sizes = options.batchSizes();
      for (int request = 0; request < options.requests(); request++) {
        int size = sizes.get(request % sizes.size());
        for (int step = 0; step < options.steps(); step++) {
          durations
              .computeIfAbsent(size, s -> new ArrayList<>())
              .add(SimulatedPasses.nanos(options.simulate(), options.seed(), request, step, size));
        }
      }
    }
    return durations;
  }

  /** The smallest duration with at least a fraction {@code q} of the durations at or below it. */
  private static long nearestRank(List<Long> nanos, double q) {
    List<Long> sorted = nanos.stream().sorted().toList();
    int rank = (int) Math.ceil(q * sorted.size());
    return sorted.get(Math.max(rank, 1) - 1);
  }

  /** The index of the bucket that holds {@code seconds}: the number of bounds below it. */
  private static int bucket(double seconds) {
    int index = 0;
    while (index < BUCKETS.size() && BUCKETS.get(index).toNanos() / 1e9 < seconds) {
      index++;
    }
    return index;
  }
}
