package io.github.forwardcontext;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.AbstractExecutorService;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;

/**
 * The executor decorators behind {@link ForwardContext#taskWrapping(ExecutorService)} and {@link
 * ThreadLocalContexts#taskWrapping(ExecutorService)}.
 */
final class ContextExecutors {
  private ContextExecutors() {}

  record ContextExecutor(Executor delegate, UnaryOperator<Runnable> wrapping) implements Executor {
    ContextExecutor(Executor delegate) {
      this(delegate, ForwardContext::wrap);
    }

    @Override
    public void execute(Runnable command) {
      delegate.execute(wrapping.apply(command));
    }
  }

  /**
   * A submitted task with its contexts: keeps the task the caller gave, so that {@code
   * shutdownNow()} can hand back what was submitted (a {@code FutureTask}, for {@code submit}) and
   * not the wrapper.
   */
  private record ContextTask(Runnable submitted, Runnable wrapped) implements Runnable {
    @Override
    public void run() {
      wrapped.run();
    }
  }

  /**
   * Every way into an {@link AbstractExecutorService} ({@code submit}, {@code invokeAll}, {@code
   * invokeAny}) ends in {@link #execute}, on the submitting thread: wrapping there captures the
   * submitter's context once per task, whatever method the caller used.
   */
  static final class ContextExecutorService extends AbstractExecutorService {
    private final ExecutorService delegate;
    private final UnaryOperator<Runnable> wrapping;
    private final String madeBy;

    ContextExecutorService(ExecutorService delegate) {
      this(delegate, ForwardContext::wrap, "ForwardContext.taskWrapping");
    }

    ContextExecutorService(
        ExecutorService delegate, UnaryOperator<Runnable> wrapping, String madeBy) {
      this.delegate = delegate;
      this.wrapping = wrapping;
      this.madeBy = madeBy;
    }

    @Override
    public void execute(Runnable command) {
      delegate.execute(new ContextTask(command, wrapping.apply(command)));
    }

    @Override
    public void shutdown() {
      delegate.shutdown();
    }

    /** {@return the tasks that never ran, as they were submitted} */
    @Override
    public List<Runnable> shutdownNow() {
      List<Runnable> pending = delegate.shutdownNow();
      List<Runnable> submitted = new ArrayList<>(pending.size());
      for (Runnable task : pending) {
        submitted.add(task instanceof ContextTask contextTask ? contextTask.submitted() : task);
      }
      return submitted;
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
      return madeBy + "(" + delegate + ")";
    }
  }
}
