package io.github.forwardcontext;

import java.util.List;
import java.util.concurrent.AbstractExecutorService;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;

/** The executor decorators behind {@link ForwardContext#taskWrapping(ExecutorService)}. */
final class ContextExecutors {
  private ContextExecutors() {}

  record ContextExecutor(Executor delegate) implements Executor {
    @Override
    public void execute(Runnable command) {
      delegate.execute(ForwardContext.wrap(command));
    }
  }

  /**
   * Every way into an {@link AbstractExecutorService} ({@code submit}, {@code invokeAll}, {@code
   * invokeAny}) ends in {@link #execute}, on the submitting thread: wrapping there captures the
   * submitter's context once per task, whatever method the caller used.
   */
  static final class ContextExecutorService extends AbstractExecutorService {
    private final ExecutorService delegate;

    ContextExecutorService(ExecutorService delegate) {
      this.delegate = delegate;
    }

    @Override
    public void execute(Runnable command) {
      delegate.execute(ForwardContext.wrap(command));
    }

    @Override
    public void shutdown() {
      delegate.shutdown();
    }

    @Override
    public List<Runnable> shutdownNow() {
      return delegate.shutdownNow();
    }

    @Override
    public boolean isShutdown() {
      return delegate.isShutdown();
    }

    @Override
    public boolean isTerminated() {
      return delegate.isTerminated();
    }

    @Override
    public boolean awaitTermination(long timeout, TimeUnit unit) throws InterruptedException {
      return delegate.awaitTermination(timeout, unit);
    }

    @Override
    public void close() {
      delegate.close();
    }

    @Override
    public String toString() {
      return "ForwardContext.taskWrapping(" + delegate + ")";
    }
  }
}
