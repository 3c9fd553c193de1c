package io.github.forwardcontext.batching;

import io.github.forwardcontext.ForwardBatch;
import java.util.List;
import java.util.Optional;

/**
 * The forward batch of a pass run by a {@link DynamicBatcher}: the items grouped into it and, with
 * {@link DynamicBatcher.Builder#compatibleBy compatibleBy}, the key they share. Model code reads it
 * from the bound forward context:
 *
 * {@snippet class="io.github.forwardcontext.snippets.BatchingSnippets" region="batch-in-context"}
 *
 * @param <I> the type of the items
 */
public final class Batch<I> implements ForwardBatch {
  private final long number;
  private final List<I> items;
  private final Object key;
  private final List<Object> submitters;

  Batch(long number, List<I> items, Object key, List<Object> submitters) {
    this.number = number;
    this.items = items;
    this.key = key;
    this.submitters = submitters;
  }

  /** {@return the items of this batch, in the order they were queued} The list is unmodifiable. */
  public List<I> items() {
    return items;
  }

  /** {@return the number of items in this batch} */
  public int size() {
    return items.size();
  }

  /** {@return the sequence number of this batch in its batcher, counting from 1} */
  public long number() {
    return number;
  }

  /**
   * {@return the key of this batch's items: what the {@linkplain
   * DynamicBatcher.Builder#compatibleBy key function} returned for one of them, equal to the key of
   * each; {@code null} without {@code compatibleBy}} A key function may itself return {@code null}
   * for some items: those share batches with each other only.
   */
  public Object key() {
    return key;
  }

  /**
   * {@return what the batcher's {@linkplain DynamicBatcher.Builder#submitterContext submitter
   * context} captured from each item's submitter, in item order} An element is {@code null} where
   * nothing was captured, and every element is without that setting. The list is unmodifiable.
   */
  public List<Object> submitterContexts() {
    return submitters;
  }

  /**
   * {@return the batch whose pass runs on this thread} It is there in the forward function, in the
   * tracked pass's observation handlers, and in the structured subtasks forked inside the pass; it
   * is empty elsewhere. The forward context's {@link
   * io.github.forwardcontext.ForwardContext#forwardBatch() forward batch} is the same batch unless
   * the batcher's {@linkplain DynamicBatcher.Builder#context(java.util.function.Function) context
   * mapping} put a forward batch of its own there.
   */
  public static Optional<Batch<?>> current() {
    return Optional.ofNullable(Dispatcher.currentBatch());
  }

  @Override
  public String toString() {
    return "Batch[number="
        + number
        + ", size="
        + items.size()
        + (key == null ? "" : ", key=" + key)
        + "]";
  }
}
