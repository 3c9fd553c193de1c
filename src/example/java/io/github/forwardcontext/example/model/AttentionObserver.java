package io.github.forwardcontext.example.model;

import io.github.forwardcontext.ForwardContext;

/**
 * Sees what each attention head of the plain-Java reference computed; the tests use it to check the
 * arithmetic and the context. ONNX Runtime computes its heads inside the session, unseen.
 */
@FunctionalInterface
public interface AttentionObserver {
  /** Sees nothing. */
  AttentionObserver NONE = (layer, head, context, weights) -> {};

  /**
   * Called by each head of each layer, in the head's own subtask.
   *
   * @param layer the layer
   * @param head the head
   * @param context the forward context the head read
   * @param weights the softmax attention weights of the pass's first sample, {@code [query][key]}
   */
  void attended(int layer, int head, ForwardContext context, float[][] weights);
}
