package io.github.forwardcontext;

/**
 * A marker for the pipeline's per-request state (prompt embeddings, latents, guidance settings, and
 * so on) that a forward pass carries in its {@link ForwardContext}.
 *
 * <p>The library never looks inside a forward batch. Pipelines implement this interface on their
 * own type and read it back with {@link ForwardContext#forwardBatch(Class)}:
 *
 * {@snippet class="io.github.forwardcontext.snippets.ContextSnippets" region="forward-batch"}
 *
 * {@snippet class="io.github.forwardcontext.snippets.ContextSnippets" region="forward-batch-read"}
 *
 * <p>A forward context is immutable, but the batch it refers to is the pipeline's own object: if
 * subtasks forked under the context change it, making that safe is the pipeline's job.
 */
public interface ForwardBatch {}
