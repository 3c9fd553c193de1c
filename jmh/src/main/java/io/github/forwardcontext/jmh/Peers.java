package io.github.forwardcontext.jmh;

import io.github.forwardcontext.AttentionMetadata;
import io.github.forwardcontext.ForwardContext;
import io.opentelemetry.context.ContextKey;

/** The keys of the peers that the library is measured against, and a context to bind. */
final class Peers {
  private Peers() {}

  /** The raw JDK floor: a scoped value of our own, bound and read directly. */
  static final ScopedValue<ForwardContext> RAW = ScopedValue.newInstance();

  static final ThreadLocal<ForwardContext> THREAD_LOCAL = new ThreadLocal<>();

  static final InheritableThreadLocal<ForwardContext> INHERITABLE = new InheritableThreadLocal<>();

  static final ContextKey<ForwardContext> OTEL = ContextKey.named("forward-context");

  record Meta(int batchSize) implements AttentionMetadata {}

  static final ForwardContext CONTEXT = new ForwardContext(500, new Meta(8), null);

  /** A pass body that reads the library's context once. */
  static final ScopedValue.CallableOp<ForwardContext, RuntimeException> READ_LIBRARY =
      ForwardContext::current;

  /** A pass body that reads the raw scoped value once. */
  static final ScopedValue.CallableOp<ForwardContext, RuntimeException> READ_RAW = RAW::get;

  /** Sixteen metadata instances, indexed with a mask, so that no input is a constant. */
  static Meta[] metas(int count) {
    Meta[] metas = new Meta[count];
    for (int i = 0; i < count; i++) {
      metas[i] = new Meta(1 + i * 7);
    }
    return metas;
  }
}
