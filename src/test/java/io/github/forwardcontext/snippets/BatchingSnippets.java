package io.github.forwardcontext.snippets;

import io.github.forwardcontext.AttentionMetadata;
import io.github.forwardcontext.BatchSizeTracker;
import io.github.forwardcontext.ForwardContext;
import io.github.forwardcontext.batching.Batch;
import io.github.forwardcontext.batching.DynamicBatcher;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeoutException;

/** The code shown by the batching package's javadoc and the README's "Batching requests". */
final class BatchingSnippets {
  private BatchingSnippets() {}

  /** A stand-in for a model that embeds a batch of texts in one pass. */
  interface Model {
    List<float[]> embed(List<String> texts);
  }

  /** Tokens per pass: what a transformer backend reports as its batch size. */
  record TokenMetadata(int batchSize) implements AttentionMetadata {}

  // @start region="batcher"
  /** Embeds texts for concurrent requests; one instance for the whole service. */
  static final class EmbeddingService implements AutoCloseable {
    // Built once and shared: requests that arrive together share a forward pass.
    private final DynamicBatcher<String, float[]> batcher;

    EmbeddingService(MeterRegistry registry, Model model) {
      BatchSizeTracker tracker = BatchSizeTracker.builder(registry).build();
      batcher =
          DynamicBatcher.builder(tracker, model::embed) // one pass per batch of texts
              .name("embed") // unique per registry: the meters' batcher tag
              .maxBatchSize(16)
              .maxWait(Duration.ofMillis(5)) // counted from the oldest queued text
              .maxQueued(256) // then submit rejects at once
              .build();
    }

    // Called on each request's own virtual thread: blocks until the text's batch has run.
    float[] embed(String text) throws InterruptedException, ExecutionException {
      return batcher.submit(text);
    }

    // At shutdown: rejects new texts, runs the queued ones, waits for the last pass.
    @Override
    public void close() {
      batcher.close();
    }
  }

  // @end

  static float[] readme(MeterRegistry registry, Model model, String text)
      throws InterruptedException, ExecutionException {
    // @start region="readme"
    BatchSizeTracker tracker = BatchSizeTracker.builder(registry).build();
    DynamicBatcher<String, float[]> batcher =
        DynamicBatcher.builder(tracker, model::embed) // List<String> -> List<float[]> in one pass
            .name("embed") // the meters' batcher tag
            .maxBatchSize(16) // a full batch runs at once
            .maxWait(Duration.ofMillis(5)) // counted from the oldest queued text
            .maxQueued(256) // beyond that, submit rejects at once
            .build();

    // On each request's own virtual thread: blocks until the text's batch has run.
    float[] embedding = batcher.submit(text);

    batcher.close(); // rejects new texts, runs the queued ones, waits for the last pass
    // @end
    return embedding;
  }

  static DynamicBatcher<String, float[]> context(BatchSizeTracker tracker, Model model) {
    // @start region="context"
    // Time each pass under its token count, at timestep 0, with the Batch as the forward batch.
    return DynamicBatcher.builder(tracker, model::embed)
        .context(
            batch -> {
              int tokens = batch.items().stream().mapToInt(String::length).sum();
              return ForwardContext.where(0, new TokenMetadata(tokens), batch);
            })
        .build();
    // @end
  }

  static int batchInContext() {
    // @start region="batch-in-context"
    // Anywhere inside the forward function, at any depth:
    Batch<?> batch = ForwardContext.current().forwardBatch(Batch.class);
    int items = batch.size();
    // @end
    return items;
  }

  /** A generation request: what must be equal for two requests to share a pass. */
  record Request(String prompt, int width, int height, int frames) {}

  /** A stand-in for a model that denoises a batch of same-shaped requests in one pass. */
  interface Generator {
    List<byte[]> generate(List<Request> requests);
  }

  static DynamicBatcher<Request, byte[]> compatible(BatchSizeTracker tracker, Generator model) {
    // @start region="compatible"
    // One batcher, one dispatcher, for every shape: only requests of one shape share a pass.
    record Shape(int width, int height, int frames) {}
    return DynamicBatcher.builder(tracker, model::generate)
        .name("denoise")
        .compatibleBy(request -> new Shape(request.width(), request.height(), request.frames()))
        .maxBatchSize(4) // per shape
        .maxWait(Duration.ofMillis(20)) // per shape, from its oldest request
        .maxQueued(64) // all shapes together
        .build();
    // @end
  }

  static byte[] givingUp(DynamicBatcher<Request, byte[]> batcher, Request request)
      throws InterruptedException, ExecutionException {
    // @start region="giving-up"
    try {
      // Withdrawn if still queued after 2 s; if its batch already runs, the batch runs on.
      return batcher.submit(request, Duration.ofSeconds(2));
    } catch (TimeoutException e) {
      return null; // the message names the batcher and the timeout
    }
    // @end
  }

  static CompletableFuture<byte[]> async(DynamicBatcher<Request, byte[]> batcher, Request request) {
    // @start region="async"
    // For callers on an event loop: returns at once; cancel() withdraws a queued request.
    CompletableFuture<byte[]> image = batcher.submitAsync(request);
    // @end
    return image;
  }
}
