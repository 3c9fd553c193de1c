/**
 * The forward context of a model forward pass, bound with {@link java.lang.ScopedValue}, and the
 * batch-size timing of passes as Micrometer timers.
 *
 * <p>Start with {@link io.github.forwardcontext.ForwardContext} (binding and reading) and {@link
 * io.github.forwardcontext.BatchSizeTracker} (timing). This package uses no preview API: it runs on
 * any Java 25 or later runtime without {@code --enable-preview}.
 */
package io.github.forwardcontext;
