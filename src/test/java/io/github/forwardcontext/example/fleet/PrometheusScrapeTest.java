package io.github.forwardcontext.example.fleet;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import io.github.forwardcontext.example.metrics.MetricsServer;
import io.github.forwardcontext.example.model.AttentionObserver;
import io.github.forwardcontext.example.pipeline.Options;
import io.github.forwardcontext.example.pipeline.Pipeline;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.File;
import java.io.IOException;
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
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The example's {@code /metrics}, scraped by a real Prometheus server (Debian's {@code prometheus}
 * package). Runs with {@code ./mvnw -Pprometheus-it verify}; never skipped when asked for.
 */
@Tag("prometheus")
class PrometheusScrapeTest {

  private static final Duration SCRAPE_WAIT = Duration.ofSeconds(90);

  @Test
  void prometheusScrapesTheForwardPassCountOfEveryBatchSize(@TempDir Path dir) throws Exception {
    Path binary = prometheusBinary();
    Options options =
        Options.parse(
            "--requests",
            "3",
            "--steps",
            "4",
            "--batch-sizes",
            "1,2,5",
            "--layers",
            "1",
            "--heads",
            "2",
            "--dim",
            "16",
            "--max-batch", // one request per pass: a count per request batch size
            "1");
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    try (Pipeline pipeline = new Pipeline(options, registry, AttentionObserver.NONE)) {
      pipeline.run(r -> {});
    }

    try (MetricsServer metrics = MetricsServer.start(0, registry)) {
      int prometheusPort = freePort();
      Files.writeString(
          dir.resolve("prometheus.yml"),
          """
          global:
            scrape_interval: 1s
          scrape_configs:
            - job_name: forward-context-example
              static_configs:
                - targets: ['127.0.0.1:%d']
          """
              .formatted(metrics.port()));
      Process prometheus =
          new ProcessBuilder(
                  binary.toString(),
                  "--config.file=" + dir.resolve("prometheus.yml"),
                  "--storage.tsdb.path=" + dir.resolve("data"),
                  "--web.listen-address=127.0.0.1:" + prometheusPort)
              .redirectErrorStream(true)
              .redirectOutput(dir.resolve("prometheus.log").toFile())
              .start();
      try {
        Map<String, Long> expected = Map.of("1", 4L, "2", 4L, "5", 4L);
        assertThat(pollUntil(prometheusPort, expected, prometheus, dir)).isEqualTo(expected);
      } finally {
        prometheus.destroy();
        prometheus.waitFor();
      }
    }
  }

  /**
   * Asks Prometheus's query API for forward_pass_seconds_count until every batch size has its
   * count. Prometheus is another process with no way to notify us, so this polls, with a bound.
   */
  private static Map<String, Long> pollUntil(
      int port, Map<String, Long> expected, Process prometheus, Path dir) throws Exception {
    HttpClient client = HttpClient.newHttpClient();
    URI query =
        URI.create(
            "http://127.0.0.1:"
                + port
                + "/api/v1/query?query="
                + URLEncoder.encode(
                    "forward_pass_seconds_count{stage=\"denoise\"}", StandardCharsets.UTF_8));
    long deadline = System.nanoTime() + SCRAPE_WAIT.toNanos();
    Map<String, Long> last = Map.of();
    while (System.nanoTime() < deadline) {
      if (!prometheus.isAlive()) {
        fail(
            "prometheus exited with %d:%n%s",
            prometheus.exitValue(), Files.readString(dir.resolve("prometheus.log")));
      }
      try {
        HttpResponse<String> response =
            client.send(
                HttpRequest.newBuilder(query).timeout(Duration.ofSeconds(5)).build(),
                HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() == 200) {
          last = counts(response.body());
          if (last.equals(expected)) {
            return last;
          }
        }
      } catch (IOException notListeningYet) {
        // Prometheus is still starting.
      }
      Thread.sleep(250);
    }
    return last;
  }

  /**
   * Batch size to count, from a query API answer such as
   * {"metric":{"batch_size":"2",...},"value":[t,"4"]}.
   */
  private static Map<String, Long> counts(String body) {
    Pattern sample =
        Pattern.compile(
            "\"batch_size\":\"(\\w+)\"[^}]*}\\s*,\\s*\"value\"\\s*:\\s*\\[[^,]+,\\s*\"(\\d+)\"\\]");
    Map<String, Long> counts = new HashMap<>();
    Matcher m = sample.matcher(body);
    while (m.find()) {
      counts.put(m.group(1), Long.parseLong(m.group(2)));
    }
    return counts.entrySet().stream()
        .collect(Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue));
  }

  private static Path prometheusBinary() {
    for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
      Path candidate = Path.of(dir, "prometheus");
      if (Files.isExecutable(candidate)) {
        return candidate;
      }
    }
    return fail(
        "The prometheus binary is not on the PATH. Install it with "
            + "'sudo apt-get install -y prometheus' (Debian/Ubuntu) or put a Prometheus 2.x "
            + "'prometheus' binary on the PATH, then run ./mvnw -Pprometheus-it verify again.");
  }

  private static int freePort() throws IOException {
    try (ServerSocket socket = new ServerSocket(0, 0, java.net.InetAddress.getLoopbackAddress())) {
      return socket.getLocalPort();
    }
  }
}
