package io.github.forwardcontext.example;

import io.github.forwardcontext.example.metrics.MetricsServer;
import io.github.forwardcontext.example.model.AttentionObserver;
import io.github.forwardcontext.example.pipeline.Options;
import io.github.forwardcontext.example.pipeline.Pipeline;
import io.github.forwardcontext.example.pipeline.RunReport;
import io.github.forwardcontext.example.pipeline.Sweep;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.Console;
import java.io.PrintStream;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The example's one entry point: a text-to-video-latent pipeline of three stages (MiniLM text
 * encoder, diffusion transformer, decoder) on ONNX Runtime, many requests on virtual threads, every
 * forward pass bound and timed by forward-context, batched across requests, reported by batch size
 * and exposed to Prometheus.
 *
 * <pre>./mvnw -q -Pexample                                          # defaults, ONNX Runtime
 * ./mvnw -q -Pexample -Dexample.args="--runtime java"           # the plain-Java reference
 * ./mvnw -q -Pexample -Dexample.args="--rate 8 --max-batch 8"   # batched arrivals
 * ./mvnw -q -Pexample -Dexample.args="--sweep-rates 2,8,32,0 --chart rates.png"
 * ./mvnw -q -Pexample -Dexample.args="--requests 8 --serve 9464"</pre>
 *
 * <p>Where things are: {@code pipeline} (the stages, their batchers, the command line), {@code
 * model} (the text encoder, the transformer on both runtimes, its graphs), {@code metrics} (the
 * {@code /metrics} server, spans), {@code fleet} (worker processes and a Prometheus server).
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
  public static int run(String[] args, PrintStream out, PrintStream err) throws Exception {
    Options options;
    try {
      options = Options.parse(args);
    } catch (Options.UsageException e) {
      err.println("error: " + e.getMessage());
      return 2;
    }
    if (options == null) {
      out.print(Options.usage());
      return 0;
    }
    if (!options.sweepRates().isEmpty()) {
      return Sweep.run(options, out);
    }

    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    try (Pipeline pipeline = new Pipeline(options, registry, AttentionObserver.NONE)) {
      out.printf(
          "Generating %d requests x %d steps on %s (samples per request %s; transformer %d layers"
              + " x %d heads, dim %d; guidance %s; seed %d)%n",
          options.requests(),
          options.steps(),
          options.runtime() == io.github.forwardcontext.example.model.Dit.Backend.ONNX
              ? "ONNX Runtime (" + options.ortThreads() + " intra-op thread per run)"
              : "the plain-Java reference",
          options.batchSizes(),
          options.layers(),
          options.heads(),
          options.dim(),
          options.guidanceScale() == 1
              ? "off"
              : options.guidanceScale()
                  + (options.guidanceParallel() ? ", two parallel passes" : ", two passes in turn"),
          options.seed());
      if (options.microbatches() > 1) {
        out.printf(
            "Each pass runs as %d overlapped microbatches, each under its own per-layer metadata%n",
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
      long warm = System.nanoTime();
      pipeline.warmUp();
      out.printf("Warmed up every session in %.1f s (untimed)%n", (System.nanoTime() - warm) / 1e9);

      Progress progress = new Progress(out, options.requests());
      long start = System.nanoTime();
      List<Pipeline.Result> results = pipeline.run(progress::finished);
      long wall = System.nanoTime() - start;
      progress.end();
      out.printf("Finished in %.1f s%n%n", wall / 1e9);
      RunReport report = RunReport.of(options, pipeline, results, wall);

      report.printChecksums(out);
      out.println();
      out.println("Denoising passes by batch size (batchsize, count, median_time(ms)):");
      pipeline.tracker().stats().forEach(row -> out.printf("  %s%n", row));
      if (options.maxBatch() > 0) {
        out.println();
        report.printBatches(out);
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
      out.printf(
          "  (and %d forward_pass_seconds_bucket lines, for fleet-wide quantiles)%n", buckets);

      if (pipeline.tracing() != null) {
        out.println();
        out.println("Span tree of request 0 (its first two passes in full):");
        pipeline.tracing().printTree(out, "request 0", 2);
        pipeline.tracing().close();
      }
      out.println();
      out.println(RunReport.summary(options, List.of(report), wall));

      if (options.serve() >= 0) {
        try (MetricsServer server = MetricsServer.start(options.serve(), registry)) {
          out.printf(
              "Serving http://127.0.0.1:%d/metrics until interrupted (Ctrl-C)%n", server.port());
          out.flush();
          // Until interrupted, or until the process that started this one ends: a fleet worker
          // whose demo or test was killed outright must not serve on forever.
          ProcessHandle.current()
              .parent()
              .map(ProcessHandle::onExit)
              .orElseGet(CompletableFuture::new)
              .join();
        }
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
