package io.github.forwardcontext.example.pipeline;

import io.github.forwardcontext.example.model.Dit;
import java.nio.file.Path;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Option;

/**
 * The example's command line, parsed by picocli into these values.
 *
 * @param requests how many requests run concurrently
 * @param steps denoising steps per request
 * @param batchSizes the samples each request generates, round robin
 * @param layers transformer layers
 * @param heads attention heads per layer
 * @param dim model width; an even multiple of {@code heads}
 * @param seed seed of the weights and the initial noise
 * @param serve the port to serve {@code /metrics} on after the run, 0 for any free port, or -1 for
 *     none
 * @param microbatches how many overlapped microbatches each denoising pass runs as (1: none)
 * @param rate requests arriving per second (exponential gaps seeded by {@code seed}), or 0 for all
 *     at once
 * @param maxBatch the batcher's maximum number of requests per pass, or 0 to run each request's
 *     passes directly, without a batcher
 * @param maxWaitMillis how long the oldest queued step waits for company before its batch runs
 * @param simulate the base duration in milliseconds of a simulated forward pass ({@link
 *     SimulatedPasses}), or 0 to time the real passes
 * @param trace whether to record spans and print the span tree of request 0
 * @param runtime the runtime of the transformer
 * @param guidanceScale classifier-free guidance scale; 1 runs the conditional pass only
 * @param guidanceParallel whether the two passes of guidance run as parallel subtasks
 * @param ortThreads ONNX Runtime's intra-op threads per session run
 * @param sweepRates arrival rates to sweep, one run each; empty for one run
 * @param chart where to draw the sweep's throughput/latency chart (PNG), or {@code null}
 */
public record Options(
    int requests,
    int steps,
    List<Integer> batchSizes,
    int layers,
    int heads,
    int dim,
    long seed,
    int serve,
    int microbatches,
    double rate,
    int maxBatch,
    int maxWaitMillis,
    int simulate,
    boolean trace,
    Dit.Backend runtime,
    double guidanceScale,
    boolean guidanceParallel,
    int ortThreads,
    List<Double> sweepRates,
    Path chart) {

  /** The defaults. */
  public static final Options DEFAULTS = parse();

  /** Options with the default batching (all at once, up to 8 per pass), guidance and runtime. */
  public Options(
      int requests,
      int steps,
      List<Integer> batchSizes,
      int layers,
      int heads,
      int dim,
      long seed,
      int serve) {
    this(requests, steps, batchSizes, layers, heads, dim, seed, serve, 1, 0, 8, 0);
  }

  /** Options that time the real passes, with the default guidance and runtime. */
  public Options(
      int requests,
      int steps,
      List<Integer> batchSizes,
      int layers,
      int heads,
      int dim,
      long seed,
      int serve,
      int microbatches,
      double rate,
      int maxBatch,
      int maxWaitMillis) {
    this(
        requests,
        steps,
        batchSizes,
        layers,
        heads,
        dim,
        seed,
        serve,
        microbatches,
        rate,
        maxBatch,
        maxWaitMillis,
        0,
        false,
        Dit.Backend.ONNX,
        Flags.GUIDANCE,
        true,
        1,
        List.of(),
        null);
  }

  /** {@return these options with another arrival rate} */
  public Options withRate(double rate) {
    return new Options(
        requests,
        steps,
        batchSizes,
        layers,
        heads,
        dim,
        seed,
        serve,
        microbatches,
        rate,
        maxBatch,
        maxWaitMillis,
        simulate,
        trace,
        runtime,
        guidanceScale,
        guidanceParallel,
        ortThreads,
        sweepRates,
        chart);
  }

  /** A bad command line: the message is one line naming the flag, the value and what is allowed. */
  public static final class UsageException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    UsageException(String message) {
      super(message);
    }
  }

  /** {@return the help text} */
  public static String usage() {
    return new CommandLine(new Flags()).getUsageMessage(CommandLine.Help.Ansi.OFF);
  }

  /**
   * {@return the options, or {@code null} when {@code --help} was asked for}
   *
   * @throws UsageException if the command line is bad
   */
  public static Options parse(String... args) {
    Flags c = new Flags();
    CommandLine line = new CommandLine(c).setCaseInsensitiveEnumValuesAllowed(true);
    try {
      line.parseArgs(args);
    } catch (CommandLine.ParameterException e) {
      throw new UsageException(e.getMessage() + "; see --help");
    }
    if (line.isUsageHelpRequested()) {
      return null;
    }
    return c.validate(line.getParseResult());
  }

  /** The picocli command: typed options, ranges checked after parsing. */
  @CommandLine.Command(
      name = "example",
      sortOptions = false,
      usageHelpAutoWidth = false,
      description =
          "Text-to-video-latent pipeline: MiniLM text encoder, diffusion transformer and decoder,"
              + " on ONNX Runtime, batched across requests at every step.")
  static final class Flags {
    static final double GUIDANCE = 4.0;

    @Option(names = "--requests", description = "concurrent requests, 1..256 (default 8)")
    int requests = 8;

    @Option(names = "--steps", description = "denoising steps per request, 1..1000 (default 20)")
    int steps = 20;

    @Option(
        names = "--batch-sizes",
        split = ",",
        paramLabel = "LIST",
        description = "samples per request, round robin, each 1..64 (default 1)")
    List<Integer> batchSizes = List.of(1);

    @Option(names = "--layers", description = "transformer blocks, 1..32 (default 4)")
    int layers = 4;

    @Option(names = "--heads", description = "attention heads, 1..64 (default 6)")
    int heads = 6;

    @Option(
        names = "--dim",
        description = "model width, 8..1024, an even multiple of --heads (default 384)")
    int dim = 384;

    @Option(names = "--seed", description = "seed of weights and noise (default 42)")
    long seed = 42;

    @Option(
        names = "--runtime",
        paramLabel = "onnx|java",
        description = "onnx: ONNX Runtime (default); java: the plain-Java reference")
    Dit.Backend runtime = Dit.Backend.ONNX;

    @Option(
        names = "--ort-threads",
        description = "ONNX Runtime intra-op threads per session run, 1..64 (default 1)")
    int ortThreads = 1;

    @Option(
        names = "--guidance-scale",
        description =
            "classifier-free guidance scale, 1..20; 1 runs no unconditional pass" + " (default 4)")
    double guidanceScale = GUIDANCE;

    @Option(
        names = "--guidance-sequential",
        description = "run guidance's two passes one after the other, not as parallel subtasks")
    boolean guidanceSequential;

    @Option(
        names = "--rate",
        description =
            "requests arriving per second, a seeded Poisson process, 0..10000"
                + " (default 0: all at once)")
    double rate;

    @Option(
        names = "--max-batch",
        description =
            "requests per batched pass, 0..64; 0 runs each request's passes directly"
                + " (default 8)")
    Integer maxBatch;

    @Option(
        names = "--max-wait",
        paramLabel = "MS",
        description = "how long the oldest queued step waits for more, 0..1000 (default 0)")
    int maxWait;

    @Option(
        names = "--microbatches",
        description = "run each pass as N overlapped microbatches, 1..8 (default 1)")
    int microbatches = 1;

    @Option(
        names = "--serve",
        paramLabel = "PORT",
        description = "after the run, serve /metrics on 127.0.0.1:PORT until interrupted (0: any)")
    int serve = -1;

    @Option(
        names = "--simulate",
        paramLabel = "MS",
        description =
            "time passes on a simulated clock: batch size b takes MS x (1 + b/8) ms,"
                + " seeded jitter, 1 in 32 stalls 4x; 0..60000, 0 is off (implies --max-batch 0)")
    int simulate;

    @Option(
        names = "--trace",
        description =
            "spans for requests, passes, layers and heads, in memory; prints request"
                + " 0's span tree (implies --max-batch 0)")
    boolean trace;

    @Option(
        names = "--sweep-rates",
        split = ",",
        paramLabel = "LIST",
        description = "run once per arrival rate and print throughput and latency per rate")
    List<Double> sweepRates = List.of();

    @Option(
        names = "--chart",
        paramLabel = "FILE",
        description = "with --sweep-rates: draw the throughput/latency curve as a PNG")
    Path chart;

    @Option(
        names = {"-h", "--help"},
        usageHelp = true,
        description = "print this help")
    boolean help;

    Options validate(CommandLine.ParseResult parsed) {
      in("--requests", requests, 1, 256);
      in("--steps", steps, 1, 1000);
      for (int size : batchSizes) {
        in("--batch-sizes", size, 1, 64);
      }
      in("--layers", layers, 1, 32);
      in("--heads", heads, 1, 64);
      in("--dim", dim, 8, 1024);
      in("--ort-threads", ortThreads, 1, 64);
      in("--max-wait", maxWait, 0, 1000);
      in("--microbatches", microbatches, 1, 8);
      if (serve != -1) {
        in("--serve", serve, 0, 65535);
      }
      in("--simulate", simulate, 0, 60_000);
      if (!(rate >= 0 && rate <= 10_000)) {
        throw new UsageException(
            "--rate must be a number of requests per second from 0 to 10000 but was " + rate);
      }
      for (double r : sweepRates) {
        if (!(r >= 0 && r <= 10_000)) {
          throw new UsageException(
              "--sweep-rates must be rates from 0 to 10000 requests per second but has " + r);
        }
      }
      if (!(guidanceScale >= 1 && guidanceScale <= 20)) {
        throw new UsageException("--guidance-scale must be from 1 to 20 but was " + guidanceScale);
      }
      if (dim % heads != 0) {
        throw new UsageException("--dim " + dim + " must be a multiple of --heads " + heads);
      }
      if (dim % 2 != 0) {
        throw new UsageException("--dim must be even (sine and cosine halves) but was " + dim);
      }
      if (chart != null && sweepRates.isEmpty()) {
        throw new UsageException("--chart " + chart + " draws a sweep: add --sweep-rates");
      }
      int batch = maxBatch == null ? 8 : maxBatch;
      in("--max-batch", batch, 0, 64);
      if (trace) {
        // A batched pass serves several requests: it has no single request span to be a child of.
        if (maxBatch != null && maxBatch > 0) {
          throw new UsageException("--trace shows each request's own passes: use --max-batch 0");
        }
        batch = 0;
      }
      if (simulate > 0) {
        // A simulated pass takes a known time per request's pass; a batched pass has no such time.
        if (maxBatch != null && maxBatch > 0) {
          throw new UsageException(
              "--simulate " + simulate + " times each request's passes alone: use --max-batch 0");
        }
        batch = 0;
      }
      return new Options(
          requests,
          steps,
          List.copyOf(batchSizes),
          layers,
          heads,
          dim,
          seed,
          serve,
          microbatches,
          rate,
          batch,
          maxWait,
          simulate,
          trace,
          runtime,
          guidanceScale,
          !guidanceSequential,
          ortThreads,
          List.copyOf(sweepRates),
          chart);
    }

    private static void in(String flag, long value, long min, long max) {
      if (value < min || value > max) {
        throw new UsageException(
            flag + " must be from " + min + " to " + max + " but was " + value);
      }
    }
  }
}
