/**
 * Structured fan-out under the forward context: {@link io.github.forwardcontext.structured.FanOut}
 * forks subtasks that inherit the caller's binding.
 *
 * <p>This package uses {@link java.util.concurrent.StructuredTaskScope}, a preview API in Java 25,
 * and so needs {@code --enable-preview} at run time. Every use of that API sits in one
 * package-private class, so that following its changes between JDK releases touches one file.
 */
package io.github.forwardcontext.structured;
