package io.github.forwardcontext.example;

import java.util.ArrayList;
import java.util.List;

/**
 * The example's command line.
 *
 * @param requests how many requests run concurrently
 * @param steps denoising steps per request
 * @param batchSizes the batch sizes the requests take, round robin
 * @param layers transformer layers
 * @param heads attention heads per layer
 * @param dim model width; a multiple of {@code heads}
 * @param seed seed of the weights and the initial noise
 * @param serve the port to serve {@code /metrics} on after the run, 0 for any free port, or -1 for
 *     none
 * @param microbatches how many overlapped microbatches each denoising step runs as (1: none)
 * @param rate requests arriving per second (exponential gaps seeded by {@code seed}), or 0 for all
 *     at once
 * @param maxBatch the batcher's maximum number of requests per pass, or 0 to run each request's
 *     passes directly, without a batcher
 * @param maxWaitMillis how long the oldest queued step waits for company before its batch runs
 * @param simulate the base duration in milliseconds of a simulated forward pass ({@link
 *     SimulatedPasses}), or 0 to time the real passes
 * @param trace whether to record spans and print the span tree of request 0
 */
record Options(
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
    boolean trace) {

  static final Options DEFAULTS = new Options(6, 24, List.of(1, 2, 4), 4, 4, 64, 42L, -1);

  /**
   * The options with no microbatches and the default batching: all requests at once, up to 8 per
   * pass, no wait.
   */
  Options(
      int requests,
      int steps,
      List<Integer> batchSizes,
      int layers,
      int heads,
      int dim,
      long seed,
      int serve) {
    this(requests, steps, batchSizes, layers, heads, dim, seed, serve, 1, 0, 8, 0, 0, false);
  }

  /** Options that time the real passes. */
  Options(
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
        false);
  }

  static final String USAGE =
      """
      Usage: example [options]
        --requests N        concurrent requests, 1..256 (default 6)
        --steps N           denoising steps per request, 1..1000 (default 24)
        --batch-sizes LIST  comma-separated batch sizes, each 1..64 (default 1,2,4)
        --layers N          transformer layers, 1..32 (default 4)
        --heads N           attention heads, 1..64 (default 4)
        --dim N             model width, 8..512, a multiple of --heads (default 64)
        --seed N            seed of weights and noise (default 42)
        --serve PORT        after the run, serve /metrics on 127.0.0.1:PORT until interrupted
                            (0 picks a free port)
        --microbatches N    run each step as N overlapped microbatches, 1..8 (default 1);
                            a batch of fewer samples runs one microbatch per sample
        --rate R            requests arriving per second, a seeded Poisson process
                            (default 0: all at once)
        --max-batch N       requests per batched forward pass, 0..64; 0 runs each request's
                            passes directly, without a batcher (default 8)
        --max-wait MS       how long the oldest queued step waits for more, 0..1000 (default 0)
        --simulate MS       time passes on a simulated clock instead: a pass of batch size b
                            takes MS x (1 + b/8) ms, seeded jitter, 1 in 32 stalls 4x; 0 is off;
                            each request's passes then run directly (--max-batch 0)
        --trace             spans for requests, passes, layers and heads (OpenTelemetry, in
                            memory); prints the span tree of request 0 (implies --max-batch 0)
        --help              print this help
      """;

  /** A bad command line: the message is one line naming the flag, the value and what is allowed. */
  static final class UsageException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    UsageException(String message) {
      super(message);
    }
  }

  /** {@return the options, or {@code null} when {@code --help} was asked for} */
  static Options parse(String... args) {
    Options d = DEFAULTS;
    int requests = d.requests;
    int steps = d.steps;
    List<Integer> batchSizes = d.batchSizes;
    int layers = d.layers;
    int heads = d.heads;
    int dim = d.dim;
    long seed = d.seed;
    int serve = d.serve;
    int microbatches = d.microbatches;
    double rate = d.rate;
    int maxBatch = d.maxBatch;
    int maxWaitMillis = d.maxWaitMillis;
    int simulate = d.simulate;
    boolean maxBatchSet = false;
    boolean trace = false;
    for (int i = 0; i < args.length; i++) {
      String flag = args[i];
      if (flag.equals("--help") || flag.equals("-h")) {
        return null;
      }
      if (flag.equals("--trace")) {
        trace = true;
        continue;
      }
      if (!flag.startsWith("--")) {
        throw new UsageException(
            "unexpected argument '" + flag + "'; flags start with --, see --help");
      }
      if (i + 1 >= args.length) {
        throw new UsageException(flag + " needs a value; see --help");
      }
      String value = args[++i];
      switch (flag) {
        case "--requests" -> requests = intIn(flag, value, 1, 256);
        case "--steps" -> steps = intIn(flag, value, 1, 1000);
        case "--batch-sizes" -> batchSizes = sizes(flag, value);
        case "--layers" -> layers = intIn(flag, value, 1, 32);
        case "--heads" -> heads = intIn(flag, value, 1, 64);
        case "--dim" -> dim = intIn(flag, value, 8, 512);
        case "--seed" -> seed = longValue(flag, value);
        case "--serve" -> serve = intIn(flag, value, 0, 65535);
        case "--microbatches" -> microbatches = intIn(flag, value, 1, 8);
        case "--rate" -> rate = rate(flag, value);
        case "--max-batch" -> {
          maxBatch = intIn(flag, value, 0, 64);
          maxBatchSet = true;
        }
        case "--max-wait" -> maxWaitMillis = intIn(flag, value, 0, 1000);
        case "--simulate" -> simulate = intIn(flag, value, 0, 60_000);
        default -> throw new UsageException("unknown flag '" + flag + "'; see --help");
      }
    }
    if (dim % heads != 0) {
      throw new UsageException("--dim " + dim + " must be a multiple of --heads " + heads);
    }
    if (trace) {
      // A batched pass serves several requests: it has no single request span to be a child of.
      if (maxBatchSet && maxBatch > 0) {
        throw new UsageException("--trace shows each request's own passes: use --max-batch 0");
      }
      maxBatch = 0;
    }
    if (simulate > 0) {
      // A simulated pass takes a known time per request's pass; a batched pass has no such time.
      if (maxBatchSet && maxBatch > 0) {
        throw new UsageException(
            "--simulate " + simulate + " times each request's passes alone: use --max-batch 0");
      }
      maxBatch = 0;
    }
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
        trace);
  }

  private static double rate(String flag, String value) {
    double parsed;
    try {
      parsed = Double.parseDouble(value.strip());
    } catch (NumberFormatException e) {
      parsed = Double.NaN;
    }
    if (!(parsed >= 0 && parsed <= 10_000)) {
      throw new UsageException(
          flag
              + " must be a number of requests per second from 0 to 10000 but was '"
              + value
              + "'");
    }
    return parsed;
  }

  private static int intIn(String flag, String value, int min, int max) {
    long parsed;
    try {
      parsed = Long.parseLong(value.strip());
    } catch (NumberFormatException e) {
      throw new UsageException(
          flag + " must be a whole number from " + min + " to " + max + " but was '" + value + "'");
    }
    if (parsed < min || parsed > max) {
      throw new UsageException(flag + " must be from " + min + " to " + max + " but was " + parsed);
    }
    return (int) parsed;
  }

  private static long longValue(String flag, String value) {
    try {
      return Long.parseLong(value.strip());
    } catch (NumberFormatException e) {
      throw new UsageException(flag + " must be a whole number but was '" + value + "'");
    }
  }

  private static List<Integer> sizes(String flag, String value) {
    List<Integer> sizes = new ArrayList<>();
    for (String part : value.split(",", -1)) {
      if (part.isBlank()) {
        throw new UsageException(
            flag + " must be a comma-separated list of sizes from 1 to 64 but was '" + value + "'");
      }
      sizes.add(intIn(flag, part, 1, 64));
    }
    return List.copyOf(sizes);
  }
}
