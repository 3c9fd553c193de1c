package io.github.forwardcontext.example.fleet;

import java.io.File;
import java.io.IOException;
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
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A real Prometheus server, its own process on a free loopback port, scraping a list of {@code
 * /metrics} targets, with its configuration, log and storage in a directory of the caller's; and
 * its query API. {@link #close()} stops it, and may be called more than once and from a shutdown
 * hook.
 */
final class PrometheusServer implements AutoCloseable {
  /** The command that installs the {@code prometheus} binary on Debian and Ubuntu. */
  static final String INSTALL_COMMAND = "apt-get install -y prometheus";

  private static final Pattern SAMPLE =
      Pattern.compile("\\{\"metric\":\\{([^}]*)\\},\"value\":\\[[^,]+,\"([^\"]+)\"\\]\\}");
  private static final Pattern LABEL = Pattern.compile("\"([^\"]+)\":\"([^\"]*)\"");

  private final Process process;
  private final int port;
  private final Path log;
  private final HttpClient http;

  private PrometheusServer(Process process, int port, Path log, HttpClient http) {
    this.process = process;
    this.port = port;
    this.log = log;
    this.http = http;
  }

  /** {@return the {@code prometheus} binary on the {@code PATH}, if there is one} */
  static Optional<Path> binary() {
    for (String entry : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
      Path candidate = Path.of(entry.isEmpty() ? "." : entry, "prometheus");
      if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) {
        return Optional.of(candidate);
      }
    }
    return Optional.empty();
  }

  /**
   * Starts Prometheus on a free loopback port, scraping {@code 127.0.0.1:port} for every one of
   * {@code targets} at {@code interval}, and returns when it answers queries.
   *
   * @param binary the {@code prometheus} binary
   * @param targets the loopback ports that serve {@code /metrics}
   * @param interval the scrape interval, whole seconds
   * @param dir where its configuration, log and storage go
   * @param timeout how long it may take to be ready
   * @throws IllegalStateException if it exits or is not ready within {@code timeout}
   */
  static PrometheusServer start(
      Path binary, List<Integer> targets, Duration interval, Path dir, Duration timeout)
      throws IOException, InterruptedException {
    StringBuilder list = new StringBuilder();
    for (int target : targets) {
      list.append(list.isEmpty() ? "" : ", ").append("'127.0.0.1:" + target + "'");
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
            .formatted(interval.toSeconds(), interval.toSeconds(), list));
    int port = freePort();
    Path log = dir.resolve("prometheus.log");
    Process process =
        new ProcessBuilder(
                binary.toString(),
                "--config.file=" + config,
                "--storage.tsdb.path=" + dir.resolve("prometheus-data"),
                "--web.listen-address=127.0.0.1:" + port)
            .redirectErrorStream(true)
            .redirectOutput(log.toFile())
            .start();
    PrometheusServer server =
        new PrometheusServer(
            process,
            port,
            log,
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build());
    try {
      server.awaitReady(timeout);
    } catch (InterruptedException | RuntimeException e) {
      server.close();
      throw e;
    }
    return server;
  }

  private void awaitReady(Duration timeout) throws InterruptedException {
    URI ready = URI.create("http://127.0.0.1:" + port + "/-/ready");
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new IllegalStateException(
            "prometheus exited with " + process.exitValue() + "; see " + log);
      }
      try {
        if (http.send(
                    HttpRequest.newBuilder(ready).timeout(Duration.ofSeconds(2)).build(),
                    HttpResponse.BodyHandlers.discarding())
                .statusCode()
            == 200) {
          return;
        }
      } catch (IOException notListeningYet) {
        // Prometheus is another process that cannot tell us when it listens: poll, bounded.
      }
      Thread.sleep(100);
    }
    throw new IllegalStateException("prometheus was not ready within " + timeout + "; see " + log);
  }

  /** {@return the port it listens on} */
  int port() {
    return port;
  }

  /** {@return its process} */
  Process process() {
    return process;
  }

  /**
   * Runs an instant PromQL query and returns its vector, one value per series, keyed by the value
   * of {@code label} ({@code +Inf} and {@code NaN} included as such).
   *
   * @throws IOException if Prometheus does not answer 200
   */
  Map<String, Double> query(String promql, String label) throws IOException, InterruptedException {
    URI uri =
        URI.create(
            "http://127.0.0.1:"
                + port
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
   * @throws IllegalStateException if Prometheus exits meanwhile
   */
  Map<String, Double> awaitQuery(
      String promql, String label, Map<String, Double> expected, Duration timeout)
      throws IOException, InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    Map<String, Double> last = query(promql, label);
    while (!last.equals(expected) && System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new IllegalStateException(
            "prometheus exited with " + process.exitValue() + "; see " + log);
      }
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

  /** Stops Prometheus and waits for it to exit. */
  @Override
  public void close() {
    Processes.stop(List.of(process));
  }

  private static int freePort() throws IOException {
    try (ServerSocket socket = new ServerSocket(0, 0, InetAddress.getLoopbackAddress())) {
      return socket.getLocalPort();
    }
  }
}
