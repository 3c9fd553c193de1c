package io.github.forwardcontext.batching;

import io.github.forwardcontext.ForwardBatch;
import java.util.List;

/**
 * The forward batch of a pass run by a {@link DynamicBatcher}: the items grouped into it. Model
 * code reads it from the bound forward context:
 *
 * {@snippet class="io.github.forwardcontext.snippets.BatchingSnippets" region="batch-in-context"}
 *
 * @param <I> the type of the items
 */
public final class Batch<I> implements ForwardBatch {
  private final long number;
  private final List<I> items;

  Batch(long number, List<I> items) {
    this.number = number;
    this.items = items;
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

  @Override
  public String toString() {
    return "Batch[number=" + number + ", size=" + items.size() + "]";
  }
}
