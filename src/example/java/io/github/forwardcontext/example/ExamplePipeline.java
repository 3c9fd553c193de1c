package io.github.forwardcontext.example;

import io.github.forwardcontext.BatchSizeStats;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.Console;
import java.io.PrintStream;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Runs the example pipeline: several requests denoised concurrently on virtual threads, every
 * forward pass bound and timed by forward-context, the timings reported by batch size and exposed
 * to Prometheus.
 *
 * <pre>./mvnw -q -Pexample                                   # defaults
 * ./mvnw -q -Pexample -Dexample.args="--requests 24 --rate 8"   # batched arrivals
 * ./mvnw -q -Pexample -Dexample.args="--microbatches 2"         # dual-batch overlap
 * ./mvnw -q -Pexample -Dexample.args="--requests 8 --serve 9464"</pre>
 */
public final class ExamplePipeline {
  private ExamplePipeline() {}

  /**
   * Runs the example with the given command line; see {@code --help}.
   *
   * @param args the command line
   * @throws Exception if the pipeline fails
   */
  public static void main(String[] args) throws Exception {
    int code = run(args, System.out, System.err);
    if (code != 0) {
      System.exit(code);
    }
  }

  /** Runs the example and returns the exit code: 0, or 2 for a bad command line. */
  static int run(String[] args, PrintStream out, PrintStream err) throws Exception {
    Options options;
    try {
      options = Options.parse(args);
    } catch (Options.UsageException e) {
      err.println("error: " + e.getMessage());
      return 2;
    }
    if (options == null) {
      out.print(Options.USAGE);
      return 0;
    }

    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    Pipeline pipeline = new Pipeline(options, registry, AttentionObserver.NONE);
    out.printf(
        "Denoising %d requests x %d steps (batch sizes %s, %d layers x %d heads, dim %d, seed %d)%n",
        options.requests(),
        options.steps(),
        options.batchSizes(),
        options.layers(),
        options.heads(),
        options.dim(),
        options.seed());
    if (options.microbatches() > 1) {
      out.printf(
          "Each step runs as %d overlapped microbatches, each under its own per-layer metadata%n",
          options.microbatches());
    }
    out.printf(
        "Arrivals: %s; batching: %s%n",
        options.rate() > 0 ? options.rate() + " requests/s" : "all at once",
        options.maxBatch() > 0
            ? "up to "
                + options.maxBatch()
                + " requests per pass, maxWait "
                + options.maxWaitMillis()
                + " ms"
            : "off");

    Progress progress = new Progress(out, options.requests());
    long start = System.nanoTime();
    List<Pipeline.Result> results = pipeline.run(progress::finished);
    progress.end();
    out.printf("Finished in %.1f s%n%n", (System.nanoTime() - start) / 1e9);

    out.println("Checksums:");
    for (Pipeline.Result r : results) {
      out.printf(
          "  request %d  batch %d  %s%n",
          r.request().id(), r.request().batchSize(), HexFormat.of().toHexDigits(r.checksum()));
    }
    out.println();
    out.println("Forward passes by batch size (batchsize, count, median_time(ms)):");
    for (BatchSizeStats row : pipeline.tracker().stats()) {
      out.printf("  %s%n", row);
    }
    if (pipeline.batchers() != null) {
      out.println();
      pipeline.batchers().report(out);
    }
    out.println();
    out.println("Prometheus exposition of forward_pass:");
    int buckets = 0;
    for (String line : registry.scrape().split("\n")) {
      if (line.startsWith("forward_pass_seconds_bucket")) {
        buckets++;
      } else if (line.contains("forward_pass")) {
        out.println("  " + line);
      }
    }
    out.printf("  (and %d forward_pass_seconds_bucket lines, for fleet-wide quantiles)%n", buckets);

    if (pipeline.tracing() != null) {
      out.println();
      out.println("Span tree of request 0 (its first two passes in full):");
      pipeline.tracing().printTree(out, "request 0", 2);
      pipeline.tracing().close();
    }

    if (options.serve() >= 0) {
      try (MetricsServer server = MetricsServer.start(options.serve(), registry)) {
        out.printf(
            "%nServing http://127.0.0.1:%d/metrics until interrupted (Ctrl-C)%n", server.port());
        out.flush();
        // Until interrupted, or until the process that started this one ends: a fleet worker
        // whose demo or test was killed outright must not serve on forever.
        ProcessHandle.current()
            .parent()
            .map(ProcessHandle::onExit)
            .orElseGet(java.util.concurrent.CompletableFuture::new)
            .join();
      }
    }
    return 0;
  }

  /** One line per finished request, or a progress bar when stdout is a terminal. */
  private static final class Progress {
    private final PrintStream out;
    private final int total;
    private final boolean terminal;
    private final AtomicInteger done = new AtomicInteger();

    Progress(PrintStream out, int total) {
      Console console = System.console();
      this.out = out;
      this.total = total;
      this.terminal = out == System.out && console != null && console.isTerminal();
    }

    void finished(Pipeline.Result result) {
      int n = done.incrementAndGet();
      synchronized (this) {
        if (terminal) {
          int width = 30;
          int filled = n * width / total;
          out.printf(
              "\r[%s%s] %d/%d requests", "#".repeat(filled), ".".repeat(width - filled), n, total);
        } else {
          out.printf(
              "request %d done (%d/%d): batch %d, %d frames, \"%s\"%n",
              result.request().id(),
              n,
              total,
              result.request().batchSize(),
              result.request().frames(),
              result.request().prompt());
        }
      }
    }

    void end() {
      if (terminal) {
        out.println();
      }
    }
  }
}
