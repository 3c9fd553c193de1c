package io.github.forwardcontext.example.fleet;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import io.github.forwardcontext.example.metrics.MetricsServer;
import io.github.forwardcontext.example.model.AttentionObserver;
import io.github.forwardcontext.example.pipeline.Options;
import io.github.forwardcontext.example.pipeline.Pipeline;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The example's {@code /metrics}, scraped by a real Prometheus server (Debian's {@code prometheus}
 * package). Runs with {@code ./mvnw -Pprometheus-it verify}; never skipped when asked for.
 */
@Tag("prometheus")
class PrometheusScrapeTest {

  private static final Duration TIMEOUT = Duration.ofSeconds(90);

  @Test
  void prometheusScrapesTheForwardPassCountOfEveryBatchSize(@TempDir Path dir) throws Exception {
    Path binary =
        PrometheusServer.binary()
            .orElseGet(
                () ->
                    fail(
                        "The prometheus binary is not on the PATH. Install it with 'sudo "
                            + PrometheusServer.INSTALL_COMMAND
                            + "' (Debian/Ubuntu) or put a Prometheus 2.x 'prometheus' binary on"
                            + " the PATH, then run ./mvnw -Pprometheus-it verify again."));
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

    try (MetricsServer metrics = MetricsServer.start(0, registry);
        PrometheusServer prometheus =
            PrometheusServer.start(
                binary, List.of(metrics.port()), Duration.ofSeconds(1), dir, TIMEOUT)) {
      Map<String, Double> expected = Map.of("1", 4.0, "2", 4.0, "5", 4.0);

      assertThat(
              prometheus.awaitQuery(
                  "forward_pass_seconds_count{stage=\"denoise\"}", "batch_size", expected, TIMEOUT))
          .isEqualTo(expected);
    }
  }
}
