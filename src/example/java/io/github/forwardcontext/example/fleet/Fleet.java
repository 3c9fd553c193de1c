package io.github.forwardcontext.example.fleet;

import io.github.forwardcontext.example.ExamplePipeline;
import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Worker processes of the example pipeline, each its own JVM serving {@code /metrics} on a loopback
 * port, and one Prometheus server scraping them all: the machinery of {@link FleetDemo} and of its
 * test. {@link #close()} stops every process it started, and may be called more than once and from
 * a shutdown hook.
 */
final class Fleet implements AutoCloseable {
  /** The command that installs the {@code prometheus} binary on Debian and Ubuntu. */
  static final String INSTALL_COMMAND = "apt-get install -y prometheus";

  private static final Pattern SERVING = Pattern.compile("Serving http://127\\.0\\.0\\.1:(\\d+)/");
  private static final Pattern ROW = Pattern.compile("^\\s+\\((\\d+), (\\d+), ([0-9.]+)\\)\\s*$");
  private static final Pattern SAMPLE =
      Pattern.compile("\\{\"metric\":\\{([^}]*)\\},\"value\":\\[[^,]+,\"([^\"]+)\"\\]\\}");
  private static final Pattern LABEL = Pattern.compile("\"([^\"]+)\":\"([^\"]*)\"");

  /** One row of a worker's own report: its count and median for a batch size. */
  record Row(long count, double medianMillis) {}

  /** A started worker: its process, the port it serves on and its own report rows by batch size. */
  record Worker(int index, Process process, int port, Map<Integer, Row> rows, Path log) {}

  private final Path dir;
  private final List<Process> processes = new CopyOnWriteArrayList<>();
  private final HttpClient http =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
  private volatile int prometheusPort = -1;

  /**
   * A fleet whose logs, Prometheus configuration and storage go to {@code dir}.
   *
   * @param dir an existing, writable directory
   */
  Fleet(Path dir) {
    this.dir = dir;
  }

  /** {@return the {@code prometheus} binary on the {@code PATH}, if there is one} */
  static Optional<Path> prometheusBinary() {
    for (String entry : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
      Path candidate = Path.of(entry.isEmpty() ? "." : entry, "prometheus");
      if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) {
        return Optional.of(candidate);
      }
    }
    return Optional.empty();
  }

  /**
   * Starts one worker per argument list, all at once, and returns when each serves its metrics: the
   * example pipeline with those arguments and {@code --serve 0}, on this JVM's Java and class path.
   *
   * @throws IllegalStateException if a worker exits or does not serve within {@code timeout}
   */
  List<Worker> startWorkers(List<List<String>> arguments, Duration timeout)
      throws IOException, InterruptedException {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<CompletableFuture<Worker>> started = new ArrayList<>();
    for (int i = 0; i < arguments.size(); i++) {
      List<String> command = new ArrayList<>();
      command.addAll(
          List.of(
              java,
              "-Xmx512m",
              "-XX:+UseSerialGC",
              "-XX:TieredStopAtLevel=1",
              "--enable-preview",
              "--enable-native-access=ALL-UNNAMED",
              "-cp",
              System.getProperty("java.class.path"),
              ExamplePipeline.class.getName()));
      command.addAll(arguments.get(i));
      command.addAll(List.of("--serve", "0"));
      Path log = dir.resolve("worker-" + i + ".log");
      Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
      processes.add(process);
      started.add(follow(i, process, log));
    }
    long deadline = System.nanoTime() + timeout.toNanos();
    List<Worker> workers = new ArrayList<>();
    for (CompletableFuture<Worker> worker : started) {
      try {
        workers.add(worker.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS));
      } catch (ExecutionException e) {
        throw new IllegalStateException(e.getCause().getMessage(), e.getCause());
      } catch (TimeoutException e) {
        throw new IllegalStateException(
            "a worker did not serve its metrics within " + timeout + "; see its log in " + dir);
      }
    }
    return workers;
  }

  /**
   * Copies a worker's output to its log, collecting its report rows, and completes when it serves.
   */
  private static CompletableFuture<Worker> follow(int index, Process process, Path log) {
    CompletableFuture<Worker> started = new CompletableFuture<>();
    Thread.ofVirtual()
        .name("worker-" + index + "-output")
        .start(
            () -> {
              Map<Integer, Row> rows = new TreeMap<>();
              try (BufferedReader in =
                      new BufferedReader(
                          new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
                  BufferedWriter out = Files.newBufferedWriter(log)) {
                for (String line = in.readLine(); line != null; line = in.readLine()) {
                  out.write(line);
                  out.newLine();
                  out.flush();
                  Matcher row = ROW.matcher(line);
                  if (row.matches()) {
                    rows.put(
                        Integer.parseInt(row.group(1)),
                        new Row(Long.parseLong(row.group(2)), Double.parseDouble(row.group(3))));
                  }
                  Matcher serving = SERVING.matcher(line);
                  if (serving.find()) {
                    started.complete(
                        new Worker(
                            index,
                            process,
                            Integer.parseInt(serving.group(1)),
                            Map.copyOf(rows),
                            log));
                  }
                }
              } catch (IOException | RuntimeException e) {
                started.completeExceptionally(e);
              }
              started.completeExceptionally(
                  new IllegalStateException(
                      "worker " + index + " exited before serving its metrics; see " + log));
            });
    return started;
  }

  /**
   * Starts Prometheus on a free loopback port, scraping every worker at {@code interval}, with its
   * storage in this fleet's directory, and returns when it answers queries.
   *
   * @throws IllegalStateException if it exits or is not ready within {@code timeout}
   */
  void startPrometheus(Path binary, List<Worker> workers, Duration interval, Duration timeout)
      throws IOException, InterruptedException {
    StringBuilder targets = new StringBuilder();
    for (Worker worker : workers) {
      targets.append(targets.isEmpty() ? "" : ", ").append("'127.0.0.1:" + worker.port() + "'");
    }
    Path config = dir.resolve("prometheus.yml");
    Files.writeString(
        config,
        """
        global:
          scrape_interval: %ds
          evaluation_interval: %ds
        scrape_configs:
          - job_name: forward-context-fleet
            static_configs:
              - targets: [%s]
        """
            .formatted(interval.toSeconds(), interval.toSeconds(), targets));
    int port = freePort();
    Path log = dir.resolve("prometheus.log");
    Process prometheus =
        new ProcessBuilder(
                binary.toString(),
                "--config.file=" + config,
                "--storage.tsdb.path=" + dir.resolve("prometheus-data"),
                "--web.listen-address=127.0.0.1:" + port)
            .redirectErrorStream(true)
            .redirectOutput(log.toFile())
            .start();
    processes.add(prometheus);
    URI ready = URI.create("http://127.0.0.1:" + port + "/-/ready");
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      if (!prometheus.isAlive()) {
        throw new IllegalStateException(
            "prometheus exited with " + prometheus.exitValue() + "; see " + log);
      }
      try {
        if (http.send(
                    HttpRequest.newBuilder(ready).timeout(Duration.ofSeconds(2)).build(),
                    HttpResponse.BodyHandlers.discarding())
                .statusCode()
            == 200) {
          prometheusPort = port;
          return;
        }
      } catch (IOException notListeningYet) {
        // Prometheus is another process that cannot tell us when it listens: poll, bounded.
      }
      Thread.sleep(100);
    }
    throw new IllegalStateException("prometheus was not ready within " + timeout + "; see " + log);
  }

  /** {@return the port Prometheus listens on} */
  int prometheusPort() {
    return prometheusPort;
  }

  /**
   * Runs an instant PromQL query and returns its vector, one value per series, keyed by the value
   * of {@code label} ({@code +Inf} and {@code NaN} included as such).
   */
  Map<String, Double> query(String promql, String label) throws IOException, InterruptedException {
    URI uri =
        URI.create(
            "http://127.0.0.1:"
                + prometheusPort
                + "/api/v1/query?query="
                + URLEncoder.encode(promql, StandardCharsets.UTF_8));
    HttpResponse<String> response =
        http.send(
            HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(5)).build(),
            HttpResponse.BodyHandlers.ofString());
    if (response.statusCode() != 200) {
      throw new IOException(
          "prometheus answered "
              + response.statusCode()
              + " to "
              + promql
              + ": "
              + response.body());
    }
    Map<String, Double> values = new HashMap<>();
    Matcher sample = SAMPLE.matcher(response.body());
    while (sample.find()) {
      Matcher labels = LABEL.matcher(sample.group(1));
      String key = "";
      while (labels.find()) {
        if (labels.group(1).equals(label)) {
          key = labels.group(2);
        }
      }
      values.put(key, parse(sample.group(2)));
    }
    return values;
  }

  /**
   * Queries {@code promql} until its vector equals {@code expected}; Prometheus scrapes on its own
   * schedule and cannot notify us, so this polls, with a bound.
   *
   * @return the last answer, equal to {@code expected} unless the time ran out
   */
  Map<String, Double> awaitQuery(
      String promql, String label, Map<String, Double> expected, Duration timeout)
      throws IOException, InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    Map<String, Double> last = query(promql, label);
    while (!last.equals(expected) && System.nanoTime() < deadline) {
      Thread.sleep(200);
      last = query(promql, label);
    }
    return last;
  }

  private static double parse(String value) {
    return switch (value) {
      case "+Inf" -> Double.POSITIVE_INFINITY;
      case "-Inf" -> Double.NEGATIVE_INFINITY;
      default -> Double.parseDouble(value);
    };
  }

  /** {@return the text a worker serves on {@code /metrics}} */
  String scrape(Worker worker) throws IOException, InterruptedException {
    return http.send(
            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + worker.port() + "/metrics"))
                .timeout(Duration.ofSeconds(5))
                .build(),
            HttpResponse.BodyHandlers.ofString())
        .body();
  }

  /** {@return the directory of the logs, the configuration and the storage} */
  Path dir() {
    return dir;
  }

  /** Stops every process this fleet started and waits for each to exit. */
  @Override
  public void close() {
    for (Process process : processes) {
      process.destroy();
    }
    for (Process process : processes) {
      try {
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
          process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
      } catch (InterruptedException e) {
        process.destroyForcibly();
        Thread.currentThread().interrupt();
      }
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket socket = new ServerSocket(0, 0, InetAddress.getLoopbackAddress())) {
      return socket.getLocalPort();
    }
  }
}
