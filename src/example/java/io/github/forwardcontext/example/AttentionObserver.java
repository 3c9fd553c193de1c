package io.github.forwardcontext.example;

import io.github.forwardcontext.ForwardContext;

/** Sees what each attention head computed; the tests use it to check the arithmetic and context. */
@FunctionalInterface
interface AttentionObserver {
  AttentionObserver NONE = (layer, head, context, weights) -> {};

  /**
   * Called by each head of each layer, in the head's own subtask.
   *
   * @param context the forward context the head read
   * @param weights the softmax attention weights of the pass's first sample, {@code [query][key]}
   */
  void attended(int layer, int head, ForwardContext context, float[][] weights);
}
