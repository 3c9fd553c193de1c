package io.github.forwardcontext.example.pipeline;

import ai.onnxruntime.OrtException;
import io.github.forwardcontext.BatchSizeTracker;
import io.github.forwardcontext.ForwardContext;
import io.github.forwardcontext.batching.Batch;
import io.github.forwardcontext.example.metrics.Tracing;
import io.github.forwardcontext.example.model.AttentionObserver;
import io.github.forwardcontext.example.model.DenoiseBatch;
import io.github.forwardcontext.example.model.DenoiseMetadata;
import io.github.forwardcontext.example.model.Dit;
import io.github.forwardcontext.example.model.DitConfig;
import io.github.forwardcontext.example.model.TextEncoder;
import io.github.forwardcontext.example.model.TextMetadata;
import io.github.forwardcontext.structured.FanOut;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * A text-to-video-latent pipeline of three tracked stages, each request on its own virtual thread:
 * its prompt is encoded by MiniLM (batched with other requests' prompts), its latents denoised over
 * its steps by the diffusion transformer (each step batched with the steps of other requests of its
 * resolution, whatever their timesteps), and decoded into frames (batched too). Every stage binds a
 * forward context instead of passing the timestep, the metadata and the batch down by hand.
 */
public final class Pipeline implements AutoCloseable {
  private static final List<String> PROMPTS =
      List.of(
          "a red panda rolling down a grassy hill",
          "waves breaking on black volcanic sand at dusk",
          "a paper boat drifting along a rainy street",
          "time-lapse of clouds over a mountain lake",
          "a robot watering plants on a balcony",
          "fireflies in a pine forest at night");

  /**
   * The result of one request.
   *
   * @param request the request
   * @param checksum FNV-1a over the bits of its decoded frames
   * @param norm the L2 norm of its final latents
   * @param latents its final latents, {@code [sample][token * dim]}
   */
  public record Result(Request request, long checksum, double norm, float[][] latents) {}

  /** One request's denoising step, waiting for a batch. */
  record Step(Request request, int timestep, float[][] latents, float[] text, long queuedNanos) {}

  /** One request's final latents, waiting for the decoder. */
  record Decode(Request request, float[][] latents, long queuedNanos) {}

  /** One request's prompt, waiting for the encoder. */
  record Prompt(long[] ids, long queuedNanos) {}

  private final Options options;
  private final BatchSizeTracker tracker; // the denoise stage
  private final BatchSizeTracker encodeTracker;
  private final BatchSizeTracker decodeTracker;
  private final Dit dit;
  private final boolean ownsDit;
  private final TextEncoder encoder;
  private final MicrobatchedForward stepForward;
  private final FanOut guidance;
  private final StageBatcher<Step, float[][]> denoise; // null: --max-batch 0
  private final StageBatcher<Prompt, float[]> encode; // null: --max-batch 0
  private final StageBatcher<Decode, float[][]> decode; // null: --max-batch 0
  private final SimulatedPasses simulated; // null: the real passes are timed
  private final Tracing tracing; // null: no spans (--trace off)
  private final AtomicInteger directPasses = new AtomicInteger();

  /** A pipeline with its own transformer. */
  public Pipeline(Options options, MeterRegistry registry, AttentionObserver observer) {
    this(options, registry, observer, null);
  }

  /**
   * A pipeline on {@code dit}, or on a transformer of its own if {@code dit} is {@code null}; a
   * shared transformer is not closed with the pipeline.
   */
  public Pipeline(Options options, MeterRegistry registry, AttentionObserver observer, Dit dit) {
    this.options = options;
    this.simulated =
        options.simulate() > 0 ? new SimulatedPasses(options.simulate(), options.seed()) : null;
    this.tracing = options.trace() ? new Tracing() : null;
    this.tracker = tracker(registry, "denoise", true);
    this.encodeTracker = tracker(registry, "encode", false);
    this.decodeTracker = tracker(registry, "decode", false);
    this.ownsDit = dit == null;
    this.dit =
        dit != null
            ? dit
            : Dit.create(
                options.runtime(),
                new DitConfig(options.layers(), options.heads(), options.dim(), options.seed()),
                options.ortThreads(),
                observer,
                tracing);
    this.encoder = TextEncoder.shared(options.ortThreads());
    this.stepForward = new MicrobatchedForward(this.dit, options.microbatches());
    FanOut fanOut = FanOut.named("guidance");
    this.guidance = tracing == null ? fanOut : fanOut.withThreadLocalContexts(tracing.contexts());
    if (options.maxBatch() == 0) {
      denoise = null;
      encode = null;
      decode = null;
    } else {
      Duration maxWait = Duration.ofMillis(options.maxWaitMillis());
      denoise =
          new StageBatcher<>(
              "denoise",
              tracker,
              this::denoisePass,
              step -> step.request().sequenceLength(),
              this::denoiseContext,
              Step::queuedNanos,
              options.maxBatch(),
              maxWait);
      encode =
          new StageBatcher<>(
              "encode",
              encodeTracker,
              this::encodePass,
              prompt -> "text",
              batch ->
                  ForwardContext.where(
                      0,
                      new TextMetadata(
                          batch.items().stream().mapToInt(p -> p.ids().length).toArray()),
                      batch),
              Prompt::queuedNanos,
              options.maxBatch(),
              maxWait);
      decode =
          new StageBatcher<>(
              "decode",
              decodeTracker,
              this::decodePass,
              item -> item.request().sequenceLength(),
              batch ->
                  ForwardContext.where(
                      0,
                      new DenoiseMetadata(
                          batch.items().stream().mapToInt(d -> d.latents().length).sum(),
                          batch.items().getFirst().request().sequenceLength()),
                      batch),
              Decode::queuedNanos,
              options.maxBatch(),
              maxWait);
    }
  }

  /** One stage's tracker; bucket counts, so that a server can compute quantiles across a fleet. */
  private BatchSizeTracker tracker(MeterRegistry registry, String stage, boolean main) {
    // One registry, one tracker per stage, told apart by their stage tag.
    BatchSizeTracker.Builder builder =
        BatchSizeTracker.builder(registry).tags("stage", stage).publishHistogram();
    if (simulated != null) {
      builder.clock(simulated.clock());
    }
    if (tracing != null && main) {
      builder.observationRegistry(tracing.observations()); // each pass a span
    }
    return builder.build();
  }

  /** {@return the denoise stage's batcher, or {@code null} if batching is off} */
  StageBatcher<Step, float[][]> batchers() {
    return denoise;
  }

  /** {@return the tracker of the denoise stage} */
  public BatchSizeTracker tracker() {
    return tracker;
  }

  /** {@return the transformer} */
  public Dit dit() {
    return dit;
  }

  /** {@return the number of denoising passes that ran: batches, or each request's own} */
  public int denoisePasses() {
    return denoise != null ? denoise.passes() : directPasses.get();
  }

  /** {@return the spans of this pipeline's runs, or {@code null} without {@code --trace}} */
  public Tracing tracing() {
    return tracing;
  }

  /** {@return the requests of a run} */
  public List<Request> requests() {
    return requests(options);
  }

  /** {@return the requests of a run with {@code options}} */
  public static List<Request> requests(Options options) {
    List<Request> requests = new ArrayList<>();
    for (int i = 0; i < options.requests(); i++) {
      int batchSize = options.batchSizes().get(i % options.batchSizes().size());
      int frames = 4 + 4 * (i % 2);
      requests.add(
          new Request(i, PROMPTS.get(i % PROMPTS.size()), frames, options.steps(), batchSize));
    }
    return requests;
  }

  /**
   * Runs every session once at the run's resolutions, alone and at a full batch, so that the first
   * request does not pay for the runtime's first runs; none of it is timed.
   */
  public void warmUp() throws Exception {
    int[] tokens =
        requests().stream().mapToInt(Request::sequenceLength).distinct().sorted().toArray();
    int samples = options.batchSizes().stream().mapToInt(Integer::intValue).max().orElse(1);
    int full = samples * Math.max(1, Math.min(options.maxBatch(), options.requests()));
    int[] sizes = full == samples ? new int[] {samples} : new int[] {samples, full};
    // Bound as passes of their stages, but not timed: no count, no stats row, no report.
    tracker.untimed(() -> dit.warmUp(tokens, sizes, tracker));
    encodeTracker.untimed(
        () -> {
          long[] ids = encoder.tokenize(PROMPTS.getFirst());
          return encodeTracker
              .where(0, new TextMetadata(new int[] {ids.length}), null)
              .call(() -> encoder.encode(List.of(ids)));
        });
  }

  /** Runs every request concurrently and returns the results in request order. */
  public List<Result> run(Consumer<Result> onFinished) throws Exception {
    List<Request> requests = requests();
    long[] arrivals = Arrivals.offsetsNanos(requests.size(), options.rate(), options.seed());
    long start = System.nanoTime();
    return FanOut.named("request")
        .invokeAll(
            requests.size(),
            i -> {
              Arrivals.awaitArrival(start, arrivals[i]);
              Result result = generate(requests.get(i));
              onFinished.accept(result);
              return result;
            });
  }

  Result generate(Request request) throws Exception {
    return tracing == null
        ? stages(request)
        : tracing.span("request " + request.id(), () -> stages(request));
  }

  private Result stages(Request request) throws Exception {
    float[] text = encodePrompt(request);
    float[][] latents = noise(request);
    for (int step = 0; step < request.steps(); step++) {
      int timestep = timestep(step, request.steps());
      Step item = new Step(request, timestep, latents, text, System.nanoTime());
      float[][] velocity = denoise != null ? denoise.submit(item) : denoiseAlone(item, step);
      latents = eulerStep(latents, velocity, timestep, timestep(step + 1, request.steps()));
    }
    float[][] frames = decode(request, latents);
    return new Result(request, checksum(frames), norm(latents), latents);
  }

  /** One request's step as its own tracked pass: {@code --max-batch 0}. */
  private float[][] denoiseAlone(Step step, int index) throws Exception {
    Request request = step.request();
    DenoiseMetadata shape = new DenoiseMetadata(request.batchSize(), request.sequenceLength());
    directPasses.incrementAndGet();
    return tracker
        .where(
            step.timestep(),
            dit.hybrid().metadata(shape),
            DenoiseBatch.ofRequest(request.id(), request.batchSize(), step.timestep()))
        .call(
            () -> {
              float[][] out = guided(step.latents(), texts(List.of(step)), shape);
              if (simulated != null) {
                simulated.pass(request.id(), index, request.batchSize());
              }
              return out;
            });
  }

  /**
   * The context of a batch of steps: the per-layer metadata of all its samples, the per-sample
   * timesteps in its {@link DenoiseBatch}, and as the one {@code currentTimestep}, its oldest
   * request's.
   */
  private ForwardContext denoiseContext(Batch<Step> batch) {
    List<Step> steps = batch.items();
    int samples = steps.stream().mapToInt(s -> s.latents().length).sum();
    int[] requests = new int[samples];
    int[] timesteps = new int[samples];
    int at = 0;
    for (Step step : steps) {
      for (int s = 0; s < step.latents().length; s++, at++) {
        requests[at] = step.request().id();
        timesteps[at] = step.timestep();
      }
    }
    return ForwardContext.where(
        steps.getFirst().timestep(),
        dit.hybrid()
            .metadata(new DenoiseMetadata(samples, steps.getFirst().request().sequenceLength())),
        new DenoiseBatch(requests, timesteps));
  }

  /** One batched denoising pass: every sample of every step, one call of the runtime per block. */
  private List<float[][]> denoisePass(List<Step> steps) throws Exception {
    List<float[]> samples = new ArrayList<>();
    for (Step step : steps) {
      samples.addAll(List.of(step.latents()));
    }
    float[][] latents = samples.toArray(float[][]::new);
    DenoiseMetadata shape =
        new DenoiseMetadata(latents.length, steps.getFirst().request().sequenceLength());
    float[][] velocity = guided(latents, texts(steps), shape);
    List<float[][]> out = new ArrayList<>(steps.size());
    int at = 0;
    for (Step step : steps) {
      float[][] mine = new float[step.latents().length][];
      System.arraycopy(velocity, at, mine, 0, mine.length);
      at += mine.length;
      out.add(mine);
    }
    return out;
  }

  private static float[][] texts(List<Step> steps) {
    List<float[]> texts = new ArrayList<>();
    for (Step step : steps) {
      for (int s = 0; s < step.latents().length; s++) {
        texts.add(step.text());
      }
    }
    return texts.toArray(float[][]::new);
  }

  /**
   * Classifier-free guidance: the conditional and unconditional passes as two subtasks that inherit
   * the batch's context (or one after the other), {@code u + scale * (c - u)}.
   */
  private float[][] guided(float[][] latents, float[][] text, DenoiseMetadata shape)
      throws Exception {
    double scale = options.guidanceScale();
    if (scale == 1) {
      return stepForward.forward(latents, text, shape);
    }
    float[][] none = new float[text.length][DitConfig.TEXT_DIM];
    float[][] conditional;
    float[][] unconditional;
    if (options.guidanceParallel()) {
      List<float[][]> both =
          guidance.invokeAll(
              2, branch -> stepForward.forward(latents, branch == 0 ? text : none, shape));
      conditional = both.get(0);
      unconditional = both.get(1);
    } else {
      conditional = stepForward.forward(latents, text, shape);
      unconditional = stepForward.forward(latents, none, shape);
    }
    float[][] out = new float[latents.length][];
    for (int b = 0; b < out.length; b++) {
      out[b] = new float[latents[b].length];
      for (int i = 0; i < out[b].length; i++) {
        float u = unconditional[b][i];
        out[b][i] = (float) (u + scale * (conditional[b][i] - u));
      }
    }
    return out;
  }

  private float[] encodePrompt(Request request) throws Exception {
    long[] ids = encoder.tokenize(request.prompt());
    if (encode != null) {
      return encode.submit(new Prompt(ids, System.nanoTime()));
    }
    return encodeTracker.where(0, new TextMetadata(new int[] {ids.length}), request)
        .call(() -> encoder.encode(List.of(ids)))[0];
  }

  private List<float[]> encodePass(List<Prompt> prompts) throws Exception {
    return List.of(encoder.encode(prompts.stream().map(Prompt::ids).toList()));
  }

  private float[][] decode(Request request, float[][] latents) throws Exception {
    if (decode != null) {
      return decode.submit(new Decode(request, latents, System.nanoTime()));
    }
    return decodeTracker
        .where(0, new DenoiseMetadata(latents.length, request.sequenceLength()), request)
        .call(() -> dit.decode(latents, request.sequenceLength()));
  }

  private List<float[][]> decodePass(List<Decode> items) throws Exception {
    List<float[]> samples = new ArrayList<>();
    for (Decode item : items) {
      samples.addAll(List.of(item.latents()));
    }
    float[][] frames =
        dit.decode(samples.toArray(float[][]::new), items.getFirst().request().sequenceLength());
    List<float[][]> out = new ArrayList<>();
    int at = 0;
    for (Decode item : items) {
      float[][] mine = new float[item.latents().length][];
      System.arraycopy(frames, at, mine, 0, mine.length);
      at += mine.length;
      out.add(mine);
    }
    return out;
  }

  /** The timestep of a step: from 1000 (pure noise) down towards 0, evenly spaced. */
  public static int timestep(int step, int steps) {
    return 1000 - step * 1000 / steps;
  }

  private float[][] noise(Request request) {
    Random random = new Random(options.seed() * 1_000_003L + request.id());
    float[][] latents = new float[request.batchSize()][request.sequenceLength() * options.dim()];
    for (float[] sample : latents) {
      for (int i = 0; i < sample.length; i++) {
        sample[i] = (float) random.nextGaussian();
      }
    }
    return latents;
  }

  /**
   * The scheduler: an Euler step of rectified flow, from noise level {@code t / 1000} to {@code
   * next / 1000} along the predicted velocity.
   */
  static float[][] eulerStep(float[][] latents, float[][] velocity, int timestep, int next) {
    float dt = (next - timestep) / 1000f;
    float[][] out = new float[latents.length][];
    for (int b = 0; b < latents.length; b++) {
      out[b] = new float[latents[b].length];
      for (int i = 0; i < out[b].length; i++) {
        out[b][i] = latents[b][i] + dt * velocity[b][i];
      }
    }
    return out;
  }

  /** FNV-1a over the bits of the frames. */
  static long checksum(float[][] frames) {
    long hash = 0xcbf29ce484222325L;
    for (float[] sample : frames) {
      for (float v : sample) {
        hash = (hash ^ Float.floatToIntBits(v)) * 0x100000001b3L;
      }
    }
    return hash;
  }

  static double norm(float[][] latents) {
    double sum = 0;
    for (float[] sample : latents) {
      for (float v : sample) {
        sum += (double) v * v;
      }
    }
    return Math.sqrt(sum);
  }

  /**
   * Closes the batchers after their last pass, and the transformer if it is the pipeline's. The
   * trackers stay open, their timers in the registry for the report and the scrape; a registry
   * holds one pipeline.
   */
  @Override
  public void close() throws OrtException {
    for (StageBatcher<?, ?> batcher : new StageBatcher<?, ?>[] {encode, denoise, decode}) {
      if (batcher != null) {
        batcher.close();
      }
    }
    if (ownsDit) {
      dit.close();
    }
  }
}
