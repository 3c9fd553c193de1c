/**
 * The Micrometer {@code Observation} of a tracked forward pass: its context, its convention (names
 * and key values) and its documentation. A {@link io.github.forwardcontext.BatchSizeTracker} makes
 * one per timed pass when it has an {@linkplain
 * io.github.forwardcontext.BatchSizeTracker.Builder#observationRegistry observation registry}.
 */
package io.github.forwardcontext.observation;
