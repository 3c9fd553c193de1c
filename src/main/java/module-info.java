/**
 * The forward context of a model forward pass, bound with {@link java.lang.ScopedValue}, and the
 * batch-size timing of passes as Micrometer timers.
 *
 * <p>Exported: {@link io.github.forwardcontext} (the context and the tracker, no preview API),
 * {@link io.github.forwardcontext.batching} (the dynamic batcher), {@link
 * io.github.forwardcontext.structured} (fork/join helpers, structured where the runtime has the
 * preview API) and {@link io.github.forwardcontext.observation} (the tracker's Micrometer
 * observations) and {@link io.github.forwardcontext.tracing} (span links through a batch, with the
 * optional {@code micrometer-tracing}). The package {@code io.github.forwardcontext.internal} is
 * not exported: its helpers are not a supported API.
 *
 * <p>The module {@code context.propagation} ({@code io.micrometer:context-propagation}) is
 * optional: only {@link io.github.forwardcontext.ThreadLocalContexts} uses it. An application that
 * uses that class puts the library on its module path and requires {@code context.propagation};
 * without it, the rest of the module resolves and runs.
 */
// The Micrometer jars are automatic modules with stable names (Automatic-Module-Name in their
// manifests); javac warns about every requires of one.
@SuppressWarnings({"requires-automatic", "requires-transitive-automatic"})
module io.github.forwardcontext {
  // The supported API, one package a line. Every package not listed is internal to the module.
  exports io.github.forwardcontext;
  exports io.github.forwardcontext.batching;
  exports io.github.forwardcontext.observation;
  exports io.github.forwardcontext.structured;
  exports io.github.forwardcontext.tracing;

  // Types of these modules appear in the exported API (MeterRegistry, ObservationRegistry,
  // KeyValues), so a module that reads this one reads them too.
  requires transitive micrometer.core;
  requires transitive micrometer.observation;
  requires transitive micrometer.commons;

  // Optional dependencies: read when the application's module graph has them, never required.
  // Not transitive: javac would then require it of every module compiled against this one. So
  // javac warns that ThreadLocalContexts.using takes a type the module does not export; an
  // application that calls it requires context.propagation itself. Likewise micrometer.tracing:
  // only the package io.github.forwardcontext.tracing uses it.
  requires static context.propagation;
  requires static micrometer.tracing;
}
