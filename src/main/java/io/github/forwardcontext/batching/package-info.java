/**
 * Dynamic batching of concurrent requests into tracked forward passes, on virtual threads.
 *
 * <p>Start with {@link io.github.forwardcontext.batching.DynamicBatcher}: callers {@linkplain
 * io.github.forwardcontext.batching.DynamicBatcher#submit submit} one item each and block; the
 * batcher groups queued items, up to a maximum batch size or a maximum wait, runs each group as one
 * forward pass of a {@link io.github.forwardcontext.BatchSizeTracker}, and hands every caller its
 * own result. This package uses no preview API: it runs on any Java 25 or later runtime without
 * {@code --enable-preview}.
 */
package io.github.forwardcontext.batching;
