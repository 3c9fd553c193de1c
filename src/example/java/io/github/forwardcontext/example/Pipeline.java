package io.github.forwardcontext.example;

import io.github.forwardcontext.AttentionMetadata;
import io.github.forwardcontext.BatchSizeTracker;
import io.github.forwardcontext.ForwardContext;
import io.github.forwardcontext.structured.FanOut;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Consumer;

/**
 * A video-diffusion pipeline in miniature, shaped like FastVideo's: each request is encoded,
 * denoised over its timesteps and decoded, on its own virtual thread, and every stage binds a
 * forward context instead of passing the timestep and the request down by hand.
 */
final class Pipeline {
  private static final List<String> PROMPTS =
      List.of(
          "a red panda rolling down a grassy hill",
          "waves breaking on black volcanic sand at dusk",
          "a paper boat drifting along a rainy street",
          "time-lapse of clouds over a mountain lake",
          "a robot watering plants on a balcony",
          "fireflies in a pine forest at night");

  /** The result of one request: the checksum of its decoded latents. */
  record Result(Request request, long checksum) {}

  private final Options options;
  private final BatchSizeTracker tracker;
  private final TinyTransformer transformer;
  private final MicrobatchedForward stepForward;
  private final DenoiseBatchers batchers; // null: --max-batch 0, each request's passes run directly
  private final SimulatedPasses simulated; // null: the real passes are timed
  private final Tracing tracing; // null: no spans (--trace off)

  Pipeline(Options options, MeterRegistry registry, AttentionObserver observer) {
    this.options = options;
    this.simulated =
        options.simulate() > 0 ? new SimulatedPasses(options.simulate(), options.seed()) : null;
    // Bucket counts, so that a server can compute quantiles across a fleet of these processes.
    BatchSizeTracker.Builder builder = BatchSizeTracker.builder(registry).publishHistogram();
    if (simulated != null) {
      builder.clock(simulated.clock());
    }
    this.tracing = options.trace() ? new Tracing() : null;
    if (tracing != null) {
      builder.observationRegistry(tracing.observations()); // each pass a span
    }
    this.tracker = builder.build();
    this.transformer =
        new TinyTransformer(
            options.layers(), options.heads(), options.dim(), options.seed(), observer, tracing);
    this.stepForward =
        new MicrobatchedForward(transformer, transformer.hybrid(), options.microbatches());
    this.batchers =
        options.maxBatch() == 0
            ? null
            : new DenoiseBatchers(
                tracker,
                stepForward,
                options.maxBatch(),
                Duration.ofMillis(options.maxWaitMillis()));
  }

  /** {@return the batchers of the denoising steps, or {@code null} if batching is off} */
  DenoiseBatchers batchers() {
    return batchers;
  }

  BatchSizeTracker tracker() {
    return tracker;
  }

  List<Request> requests() {
    List<Request> requests = new ArrayList<>();
    for (int i = 0; i < options.requests(); i++) {
      int batchSize = options.batchSizes().get(i % options.batchSizes().size());
      int frames = 4 + 4 * (i % 2);
      requests.add(
          new Request(i, PROMPTS.get(i % PROMPTS.size()), frames, options.steps(), batchSize));
    }
    return requests;
  }

  /** Runs every request concurrently and returns the results in request order. */
  List<Result> run(Consumer<Result> onFinished) throws Exception {
    List<Request> requests = requests();
    long[] arrivals = Arrivals.offsetsNanos(requests.size(), options.rate(), options.seed());
    long start = System.nanoTime();
    try {
      return FanOut.named("request")
          .invokeAll(
              requests.size(),
              i -> {
                Arrivals.awaitArrival(start, arrivals[i]);
                Result result = generate(requests.get(i));
                onFinished.accept(result);
                return result;
              });
    } finally {
      if (batchers != null) {
        batchers.close();
      }
    }
  }

  /** {@return the spans of this pipeline's runs, or {@code null} without {@code --trace}} */
  Tracing tracing() {
    return tracing;
  }

  Result generate(Request request) throws Exception {
    return tracing == null
        ? denoise(request)
        : tracing.span("request " + request.id(), () -> denoise(request));
  }

  private Result denoise(Request request) throws Exception {
    // Text encoding: bound with timestep 0 and no attention metadata, as FastVideo binds encoders.
    float[] conditioning = ForwardContext.where(0, null, request).call(this::encodePrompt);

    float[][][] latents = noise(request);
    DenoiseMetadata shape =
        new DenoiseMetadata(request.batchSize(), request.sequenceLength(), request.id());
    for (int step = 0; step < request.steps(); step++) {
      int timestep = timestep(step, request.steps());
      float[][][] x = latents;
      int s = step;
      // One tracked forward pass: bound, timed under batch.size, visible to every layer and head;
      // its metadata is per layer (a hybrid model), and it may run as overlapped microbatches;
      // with batching, one batched pass shared with other requests of this resolution.
      AttentionMetadata meta = transformer.hybrid().metadata(shape);
      float[][][] noise =
          batchers != null
              ? batchers.forward(request, timestep, meta, shape, x, conditioning)
              : tracker
                  .where(timestep, meta, request)
                  .call(
                      () -> {
                        float[][][] out = stepForward.forward(x, conditioning, shape);
                        if (simulated != null) {
                          simulated.pass(request.id(), s, request.batchSize());
                        }
                        return out;
                      });
      latents = eulerStep(latents, noise, 1f / request.steps());
    }

    float[][][] denoised = latents;
    long checksum = ForwardContext.where(0, null, request).call(() -> decode(denoised));
    return new Result(request, checksum);
  }

  /** The timestep of a step: from 1000 (pure noise) down towards 0, evenly spaced. */
  static int timestep(int step, int steps) {
    return 1000 - step * 1000 / steps;
  }

  /** A bag-of-characters text encoder; it reads the prompt from the forward batch. */
  private float[] encodePrompt() {
    Request request = ForwardContext.current().forwardBatch(Request.class);
    int dim = transformer.dim();
    float[] embedding = new float[dim];
    String prompt = request.prompt();
    for (int i = 0; i < prompt.length(); i++) {
      Random token = new Random(options.seed() * 31 + prompt.charAt(i));
      for (int c = 0; c < dim; c++) {
        embedding[c] += (float) token.nextGaussian() / prompt.length();
      }
    }
    return embedding;
  }

  private float[][][] noise(Request request) {
    Random random = new Random(options.seed() * 1_000_003L + request.id());
    float[][][] latents =
        new float[request.batchSize()][request.sequenceLength()][transformer.dim()];
    for (float[][] sample : latents) {
      for (float[] token : sample) {
        for (int c = 0; c < token.length; c++) {
          token[c] = (float) random.nextGaussian();
        }
      }
    }
    return latents;
  }

  private static float[][][] eulerStep(float[][][] latents, float[][][] noise, float dt) {
    float[][][] next = new float[latents.length][][];
    for (int b = 0; b < latents.length; b++) {
      next[b] = new float[latents[b].length][];
      for (int s = 0; s < latents[b].length; s++) {
        next[b][s] = new float[latents[b][s].length];
        for (int c = 0; c < next[b][s].length; c++) {
          next[b][s][c] = latents[b][s][c] - dt * 0.5f * noise[b][s][c];
        }
      }
    }
    return next;
  }

  /** The decode stage: reduces the latents to a checksum (FNV-1a over their bits). */
  private static long decode(float[][][] latents) {
    long hash = 0xcbf29ce484222325L;
    for (float[][] sample : latents) {
      for (float[] token : sample) {
        for (float v : token) {
          hash = (hash ^ Float.floatToIntBits(v)) * 0x100000001b3L;
        }
      }
    }
    return hash;
  }
}
