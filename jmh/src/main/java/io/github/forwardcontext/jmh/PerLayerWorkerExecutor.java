package io.github.forwardcontext.jmh;

import io.github.forwardcontext.AttentionMetadata;
import io.github.forwardcontext.ForwardContext;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The executor of JMH's worker threads for {@link PerLayerReadBenchmark} ({@code
 * -Djmh.executor=CUSTOM}). Each worker thread runs its whole life inside two live bindings made
 * once for the thread: the library's context with {@linkplain AttentionMetadata#perLayer(Map)
 * per-layer metadata} of a 48-layer model, and a raw scoped value holding a record with a plain
 * {@code HashMap} of the same layers.
 */
public final class PerLayerWorkerExecutor extends ThreadPoolExecutor {

  /** The number of layers of the model. */
  static final int LAYERS = 48;

  /** The raw floor: a record of our own with a plain map, bound on a scoped value of our own. */
  record RawContext(int currentTimestep, Map<String, AttentionMetadata> layers) {}

  static final ScopedValue<RawContext> RAW = ScopedValue.newInstance();

  /** Every fourth layer runs the other backend, as in a hybrid model. */
  record OtherMeta(int batchSize) implements AttentionMetadata {}

  /**
   * Called by JMH.
   *
   * @param maxThreads the number of benchmark threads
   * @param prefix the thread name prefix
   */
  public PerLayerWorkerExecutor(int maxThreads, String prefix) {
    super(
        maxThreads,
        maxThreads,
        1,
        TimeUnit.MINUTES,
        new LinkedBlockingQueue<>(),
        new ThreadFactory() {
          private final AtomicInteger count = new AtomicInteger();

          @Override
          public Thread newThread(Runnable work) {
            Thread thread =
                new Thread(() -> runBound(work), prefix + "-per-layer-" + count.incrementAndGet());
            thread.setDaemon(true);
            return thread;
          }
        });
  }

  /** {@return the layers, named as a model names them when it is built: not interned} */
  static LinkedHashMap<String, AttentionMetadata> layers() {
    LinkedHashMap<String, AttentionMetadata> layers = new LinkedHashMap<>();
    for (int i = 0; i < LAYERS; i++) {
      layers.put("layer." + i, i % 4 == 3 ? new OtherMeta(8) : new Peers.Meta(8));
    }
    return layers;
  }

  private static void runBound(Runnable work) {
    LinkedHashMap<String, AttentionMetadata> layers = layers();
    ForwardContext context = new ForwardContext(500, AttentionMetadata.perLayer(layers), null);
    RawContext raw = new RawContext(500, new HashMap<>(layers));
    ScopedValue.where(RAW, raw).run(() -> context.run(work));
  }
}
