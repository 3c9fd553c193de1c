package io.github.forwardcontext.example.pipeline;

import io.github.forwardcontext.example.model.AttentionObserver;
import io.github.forwardcontext.example.model.Dit;
import io.github.forwardcontext.example.model.DitConfig;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * {@code --sweep-rates}: one run per arrival rate on one warmed-up transformer, a table of
 * throughput, batch sizes, pass times and queue waits per rate, and with {@code --chart} the curve.
 */
public final class Sweep {
  private Sweep() {}

  /** Runs the sweep; returns the exit code. */
  public static int run(Options options, PrintStream out) throws Exception {
    List<RunReport> runs = new ArrayList<>();
    long start = System.nanoTime();
    try (Dit dit =
        Dit.create(
            options.runtime(),
            new DitConfig(options.layers(), options.heads(), options.dim(), options.seed()),
            options.ortThreads(),
            AttentionObserver.NONE,
            null)) {
      out.println(
          "rate/s  steps/s  requests/pass  pass p50 ms  pass p99 ms  wait p50 ms  wait p99 ms");
      boolean warm = false;
      for (double rate : options.sweepRates()) {
        Options run = options.withRate(rate);
        try (Pipeline pipeline = new Pipeline(run, new SimpleMeterRegistry(), null, dit)) {
          if (!warm) {
            pipeline.warmUp();
            warm = true;
          }
          long t0 = System.nanoTime();
          List<Pipeline.Result> results = pipeline.run(r -> {});
          RunReport report = RunReport.of(run, pipeline, results, System.nanoTime() - t0);
          runs.add(report);
          out.println(
              String.format(
                  Locale.ROOT,
                  "%6s  %7.1f  %13.2f  %11.2f  %11.2f  %11.2f  %11.2f",
                  rate == 0 ? "all" : String.format(Locale.ROOT, "%.1f", rate),
                  report.stepsPerSecond(),
                  report.meanRequestsPerPass(),
                  report.passMillis(0.5),
                  report.passMillis(0.99),
                  report.queueWaitMillis(0.5),
                  report.queueWaitMillis(0.99)));
        }
      }
    }
    if (options.chart() != null) {
      RateChart.draw(
          runs.stream().filter(r -> r.options().rate() > 0).toList(),
          options.chart(),
          String.format(
              Locale.ROOT,
              "%d requests x %d steps, max batch %d, %s runtime",
              options.requests(),
              options.steps(),
              options.maxBatch(),
              options.runtime().name().toLowerCase(Locale.ROOT)));
      out.println("Chart: " + options.chart());
    }
    out.println(RunReport.summary(options, runs, System.nanoTime() - start));
    return 0;
  }
}
