package io.github.forwardcontext.batching;

import java.util.List;

/**
 * The forward pass a {@link DynamicBatcher} runs on each batch: one result per item, in the items'
 * order.
 *
 * <p>The function is called on the batcher's dispatcher thread, inside a tracked pass whose forward
 * context is bound (see {@link DynamicBatcher}). It is never called with an empty batch.
 *
 * @param <I> the type of the items
 * @param <O> the type of the results
 */
@FunctionalInterface
public interface BatchFunction<I, O> {

  /**
   * Runs one forward pass over a batch.
   *
   * @param batch the items of the batch, in the order they were queued; unmodifiable, never empty
   * @return the results, one per item: result {@code i} goes to the caller that submitted item
   *     {@code i}; a list of another size fails the whole batch
   * @throws Exception if the pass fails; every caller of the batch then gets an {@link
   *     java.util.concurrent.ExecutionException} with this exception as its cause
   */
  List<O> apply(List<I> batch) throws Exception;
}
