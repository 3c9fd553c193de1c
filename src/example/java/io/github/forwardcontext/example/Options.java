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
 * @param simulate the base duration in milliseconds of a simulated forward pass ({@link
 *     SimulatedPasses}), or 0 to time the real passes
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
    int simulate) {

  static final Options DEFAULTS = new Options(6, 24, List.of(1, 2, 4), 4, 4, 64, 42L, -1, 1);

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
      int microbatches) {
    this(requests, steps, batchSizes, layers, heads, dim, seed, serve, microbatches, 0);
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
        --simulate MS       time passes on a simulated clock instead: a pass of batch size b
                            takes MS x (1 + b/8) ms, seeded jitter, 1 in 32 stalls 4x; 0 is off
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
    int simulate = d.simulate;
    for (int i = 0; i < args.length; i++) {
      String flag = args[i];
      if (flag.equals("--help") || flag.equals("-h")) {
        return null;
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
        case "--simulate" -> simulate = intIn(flag, value, 0, 60_000);
        default -> throw new UsageException("unknown flag '" + flag + "'; see --help");
      }
    }
    if (dim % heads != 0) {
      throw new UsageException("--dim " + dim + " must be a multiple of --heads " + heads);
    }
    return new Options(
        requests, steps, batchSizes, layers, heads, dim, seed, serve, microbatches, simulate);
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
