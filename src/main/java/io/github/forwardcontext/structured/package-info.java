/**
 * Fan-out under the forward context: {@link io.github.forwardcontext.structured.FanOut} runs
 * subtasks on virtual threads that see the caller's binding, on every Java 25 or later runtime.
 *
 * <p>Where it can, it forks them in a {@link java.util.concurrent.StructuredTaskScope}, a preview
 * API of Java 25 that needs {@code --enable-preview}; everywhere else it falls back to plain
 * virtual threads (see {@link io.github.forwardcontext.structured.FanOut.Mode}). Every use of the
 * preview API sits in one package-private class, loaded by name, so that the rest of the package
 * runs without the flag and following the API's changes between JDK releases touches one file.
 */
package io.github.forwardcontext.structured;
