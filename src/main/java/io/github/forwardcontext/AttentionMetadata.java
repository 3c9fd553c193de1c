package io.github.forwardcontext;

/**
 * The attention backend's per-pass metadata, as far as this library needs to know it: the batch
 * size that forward-pass timings are grouped by.
 *
 * <p>An attention backend implements this interface on its own metadata type and reads it back with
 * the typed accessor {@link ForwardContext#attnMetadata(Class)}:
 *
 * {@snippet class="io.github.forwardcontext.snippets.ContextSnippets" region="metadata"}
 *
 * {@snippet class="io.github.forwardcontext.snippets.ContextSnippets" region="metadata-read"}
 *
 * <p>The interface is functional, so a lambda serves where nothing but a batch size is needed:
 * {@code tracker.where(t, () -> 8)}.
 *
 * @see BatchSizeTracker
 */
@FunctionalInterface
public interface AttentionMetadata {

  /**
   * {@return the batch size of the forward pass this metadata belongs to} It is what {@link
   * BatchSizeTracker} groups timings by (FastVideo and vLLM report the number of input tokens
   * here). It is read once, when a tracked pass is bound, and must not be negative.
   */
  int batchSize();
}
