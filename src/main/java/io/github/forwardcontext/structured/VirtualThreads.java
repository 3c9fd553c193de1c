package io.github.forwardcontext.structured;

import io.github.forwardcontext.ForwardContext;
import io.github.forwardcontext.internal.Forks;
import java.time.Duration;
import java.util.List;

/**
 * The fan-out on plain virtual threads, for every runtime where {@link StructuredScopes} cannot
 * load: the library's one engine, {@link Forks}, with the caller's forward context bound again in
 * each subtask through {@link ForwardContext#wrap(java.util.concurrent.Callable)} (untracked, so
 * global tracking does not time it as a pass of its own). No other scoped value reaches a subtask.
 */
final class VirtualThreads implements Forking {
  static final VirtualThreads INSTANCE = new VirtualThreads();

  private VirtualThreads() {}

  @Override
  public <T> List<T> forkAll(
      String name, int count, Subtask<T> subtask, Duration deadline, Forks.Failures failures)
      throws InterruptedException {
    return Forks.forkAll(
        Thread.ofVirtual().name(name),
        count,
        index -> ForwardContext.wrap(subtask.forIndex(index)),
        deadline,
        failures);
  }
}
