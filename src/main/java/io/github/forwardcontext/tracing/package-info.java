/**
 * Micrometer Tracing integration: span links from a batched forward pass to the requests it serves.
 * The only package that uses {@code io.micrometer:micrometer-tracing}, an optional dependency; the
 * rest of the library loads and runs without it.
 */
package io.github.forwardcontext.tracing;
