package io.github.forwardcontext.batching;

import io.github.forwardcontext.ForwardBatch;
import java.util.List;

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
   * The per-item hook for what was current in each submitter (for example its observation), in item
   * order; each element is {@code null} unless the batcher captures it at submit. Nothing captures
   * anything yet: this is where span links to the submitters will read from.
   */
  List<Object> submitters() {
    return submitters;
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
