package io.github.forwardcontext.jmh;

import io.opentelemetry.context.Context;
import io.opentelemetry.context.Scope;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The executor of JMH's worker threads for {@link BoundWorkerBenchmark}s ({@code
 * -Djmh.executor=CUSTOM}). Each worker thread runs its whole life inside live bindings of every
 * mechanism measured: the library's context, a raw scoped value, a thread local and an
 * OpenTelemetry context. So the reads are measured inside a binding made once per worker thread,
 * not once per operation.
 */
public final class BoundWorkerExecutor extends ThreadPoolExecutor {

  /**
   * Called by JMH.
   *
   * @param maxThreads the number of benchmark threads
   * @param prefix the thread name prefix
   */
  public BoundWorkerExecutor(int maxThreads, String prefix) {
    super(
        maxThreads,
        maxThreads,
        1,
        TimeUnit.MINUTES,
        new LinkedBlockingQueue<>(),
        new java.util.concurrent.ThreadFactory() {
          private final AtomicInteger count = new AtomicInteger();

          @Override
          public Thread newThread(Runnable work) {
            Thread thread =
                new Thread(() -> runBound(work), prefix + "-bound-" + count.incrementAndGet());
            thread.setDaemon(true);
            return thread;
          }
        });
  }

  private static void runBound(Runnable work) {
    Peers.THREAD_LOCAL.set(Peers.CONTEXT);
    try (Scope scope = Context.current().with(Peers.OTEL, Peers.CONTEXT).makeCurrent()) {
      ScopedValue.where(Peers.RAW, Peers.CONTEXT).run(() -> Peers.CONTEXT.run(work));
    } finally {
      Peers.THREAD_LOCAL.remove();
    }
  }
}
