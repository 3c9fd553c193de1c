package io.github.forwardcontext.jmh;

import io.github.forwardcontext.BatchSizeTracker;
import io.github.forwardcontext.ForwardContext;
import io.github.forwardcontext.batching.Batch;
import io.github.forwardcontext.batching.DynamicBatcher;
import io.github.forwardcontext.example.model.AttentionObserver;
import io.github.forwardcontext.example.model.DenoiseBatch;
import io.github.forwardcontext.example.model.DenoiseMetadata;
import io.github.forwardcontext.example.model.Dit;
import io.github.forwardcontext.example.model.DitConfig;
import io.github.forwardcontext.structured.FanOut;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.StructuredTaskScope;
import java.util.concurrent.StructuredTaskScope.Joiner;
import java.util.concurrent.StructuredTaskScope.Subtask;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * One batched denoising step of the example's diffusion transformer on ONNX Runtime, through the
 * library against the same runtime calls made directly: the share of a step that is the library's
 * (issue 22's target: under 2%). Same sessions (one {@link Dit} of the example's default
 * dimensions, 4 layers x 6 heads, width 384, seeded weights), same batch ({@code requests} requests
 * of one sample of 32 tokens each, at different timesteps), same classifier-free guidance (scale 4,
 * the conditional and unconditional passes in parallel, 4 session runs each), in the same run:
 *
 * <ul>
 *   <li>{@code direct}: {@link Dit#predictUnbound} twice, as two subtasks of a raw {@code
 *       StructuredTaskScope}, the inputs passed by hand; no context, no tracker.
 *   <li>{@code libraryStep}: what the example's pipeline does inside a batch: one tracked pass,
 *       {@code tracker.where(timestep, perLayerMetadata, batch).call(..)} with the per-layer
 *       metadata and the {@link DenoiseBatch} built for the step, guidance as two {@link FanOut}
 *       subtasks inheriting the binding, and {@link Dit#predict} reading the batch's timesteps and
 *       each layer's metadata from the context.
 *   <li>{@code libraryBatched}: the same, reached through a {@link DynamicBatcher}: {@code
 *       requests} callers (virtual threads of a {@code FanOut}, which a service has anyway) each
 *       submit their own step, and the batcher runs them as one pass when the batch is full.
 * </ul>
 *
 * <p>The library's share of a step is {@code (libraryStep - direct) / libraryStep}, and with the
 * hand-off {@code (libraryBatched - direct) / libraryBatched}. {@code @Setup} checks that the three
 * give bit-identical velocities.
 *
 * <p>Run: {@code ./mvnw -q -f jmh/pom.xml package exec:exec -Djmh.args="-prof gc OnnxStep"}
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(
    value = 2,
    jvmArgsAppend = {
      "--enable-preview",
      "--enable-native-access=ALL-UNNAMED",
      "-Xms1g",
      "-Xmx1g",
      "-XX:+AlwaysPreTouch"
    })
public class OnnxStepBenchmark extends ForkedBenchmark {
  private static final DitConfig CONFIG = new DitConfig(4, 6, 384, 42);
  private static final int TOKENS = 32;
  private static final double GUIDANCE = 4.0;
  private static final FanOut GUIDANCE_FAN_OUT = FanOut.named("guidance");
  private static final FanOut REQUESTS_FAN_OUT = FanOut.named("request");

  /** Requests in the batch, one sample each. */
  @Param({"8"})
  public int requests;

  private Dit dit;
  private BatchSizeTracker tracker;
  private DynamicBatcher<Integer, float[]> batcher;
  private float[][] latents;
  private float[][] text;
  private float[][] none;
  private int[] timesteps;
  private float[] timestepValues;

  @Setup(Level.Trial)
  public void setUp() throws Exception {
    dit = Dit.create(Dit.Backend.ONNX, CONFIG, 1, AttentionObserver.NONE, null);
    tracker =
        BatchSizeTracker.builder(new SimpleMeterRegistry())
            .tags("stage", "denoise")
            .publishHistogram()
            .build();
    Random random = new Random(42);
    latents = new float[requests][TOKENS * CONFIG.dim()];
    text = new float[requests][DitConfig.TEXT_DIM];
    none = new float[requests][DitConfig.TEXT_DIM];
    timesteps = new int[requests];
    timestepValues = new float[requests];
    for (int r = 0; r < requests; r++) {
      for (int i = 0; i < latents[r].length; i++) {
        latents[r][i] = (float) random.nextGaussian();
      }
      for (int i = 0; i < text[r].length; i++) {
        text[r][i] = (float) (random.nextGaussian() / Math.sqrt(DitConfig.TEXT_DIM));
      }
      timesteps[r] = 1000 - 50 * r; // requests at different steps share the pass
      timestepValues[r] = timesteps[r];
    }
    batcher =
        DynamicBatcher.<Integer, float[]>builder(tracker, this::batchPass)
            .name("denoise")
            .maxBatchSize(requests)
            // Long enough that every batch is full: the same batch as the other two.
            .maxWait(Duration.ofMinutes(1))
            .context(this::batchContext)
            .build();

    float[][] expected = direct();
    float[][] library = libraryStep();
    float[][] batched = libraryBatched().toArray(float[][]::new);
    if (!Arrays.deepEquals(expected, library) || !Arrays.deepEquals(expected, batched)) {
      throw new IllegalStateException(
          "the library's step and the direct step give different velocities");
    }
  }

  @TearDown(Level.Trial)
  public void tearDown() throws Exception {
    batcher.close();
    dit.close();
  }

  /** The runtime calls alone: both guidance passes as raw subtasks, the inputs passed by hand. */
  @Benchmark
  public float[][] direct() throws Exception {
    try (var scope = StructuredTaskScope.open(Joiner.<float[][]>allSuccessfulOrThrow())) {
      scope.fork(() -> dit.predictUnbound(timestepValues, latents, text, TOKENS));
      scope.fork(() -> dit.predictUnbound(timestepValues, latents, none, TOKENS));
      List<float[][]> both = scope.join().map(Subtask::get).toList();
      return guided(both.get(0), both.get(1));
    }
  }

  /** One tracked pass of the batch, as the example runs it, without the batcher's hand-off. */
  @Benchmark
  public float[][] libraryStep() throws Exception {
    return tracker
        .where(
            timesteps[0],
            dit.hybrid().metadata(new DenoiseMetadata(requests, TOKENS)),
            new DenoiseBatch(requestIds(), timesteps.clone()))
        .call(() -> guidedPass(latents, text));
  }

  /** The same pass, formed by the batcher from each request's own submission. */
  @Benchmark
  public List<float[]> libraryBatched() throws Exception {
    return REQUESTS_FAN_OUT.invokeAll(requests, r -> batcher.submit(r));
  }

  private int[] requestIds() {
    int[] ids = new int[requests];
    Arrays.setAll(ids, r -> r);
    return ids;
  }

  /** What the example's {@code Pipeline} binds for a batch of steps. */
  private ForwardContext batchContext(Batch<Integer> batch) {
    List<Integer> items = batch.items();
    int[] ids = new int[items.size()];
    int[] steps = new int[items.size()];
    for (int i = 0; i < ids.length; i++) {
      ids[i] = items.get(i);
      steps[i] = timesteps[ids[i]];
    }
    return ForwardContext.where(
        steps[0],
        dit.hybrid().metadata(new DenoiseMetadata(ids.length, TOKENS)),
        new DenoiseBatch(ids, steps));
  }

  private List<float[]> batchPass(List<Integer> items) throws Exception {
    float[][] x = new float[items.size()][];
    float[][] c = new float[items.size()][];
    for (int i = 0; i < x.length; i++) {
      x[i] = latents[items.get(i)];
      c[i] = text[items.get(i)];
    }
    return Arrays.asList(guidedPass(x, c));
  }

  /** Guidance's two passes as subtasks that inherit the bound context. */
  private float[][] guidedPass(float[][] x, float[][] c) throws Exception {
    float[][] zeros = x.length == none.length ? none : new float[x.length][DitConfig.TEXT_DIM];
    List<float[][]> both =
        GUIDANCE_FAN_OUT.invokeAll(2, branch -> dit.predict(x, branch == 0 ? c : zeros));
    return guided(both.get(0), both.get(1));
  }

  /** {@code u + scale * (c - u)}, as the example's pipeline combines them. */
  private static float[][] guided(float[][] conditional, float[][] unconditional) {
    float[][] out = new float[conditional.length][];
    for (int b = 0; b < out.length; b++) {
      out[b] = new float[conditional[b].length];
      for (int i = 0; i < out[b].length; i++) {
        float u = unconditional[b][i];
        out[b][i] = (float) (u + GUIDANCE * (conditional[b][i] - u));
      }
    }
    return out;
  }
}
