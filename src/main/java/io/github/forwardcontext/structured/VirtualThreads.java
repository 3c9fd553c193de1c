package io.github.forwardcontext.structured;

import io.github.forwardcontext.ForwardContext;
import java.time.Duration;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The fan-out on plain virtual threads, for every runtime where {@link StructuredScopes} cannot
 * load. It keeps the structured contract by hand.
 *
 * <p>Each subtask gets the caller's forward context bound again through {@link
 * ForwardContext#wrap(Runnable)} (untracked, so global tracking does not time it as a pass of its
 * own); no other scoped value reaches it. Only the calling thread cancels: a failing subtask
 * records itself and wakes the caller, which interrupts the other threads and then joins every
 * thread it started, so none outlives the call. The wake-up is one latch counted down by every
 * subtask as it ends, and drained at once by the first failure.
 */
final class VirtualThreads implements Forking {
  static final VirtualThreads INSTANCE = new VirtualThreads();

  private VirtualThreads() {}

  @Override
  public <T> List<T> forkAll(String name, int count, Subtask<T> subtask, Duration deadline)
      throws InterruptedException {
    long deadlineNanos = deadline == null ? 0 : saturatedNanos(deadline);
    long start = System.nanoTime();
    Object[] results = new Object[count];
    Thread[] threads = new Thread[count];
    CountDownLatch wake = new CountDownLatch(count);
    AtomicReference<Throwable> firstFailure = new AtomicReference<>();
    Thread.Builder builder = Thread.ofVirtual().name(name);

    int started = 0;
    while (started < count && firstFailure.get() == null) {
      int index = started;
      Callable<T> call = subtask.forIndex(index);
      Runnable body =
          ForwardContext.wrap(
              () -> {
                try {
                  results[index] = call.call();
                } catch (Throwable failure) {
                  if (firstFailure.compareAndSet(null, failure)) {
                    drain(wake);
                  }
                } finally {
                  wake.countDown();
                }
              });
      try {
        threads[started] = builder.start(body);
      } catch (Throwable cannotStart) {
        if (firstFailure.compareAndSet(null, cannotStart)) {
          drain(wake);
        }
        break;
      }
      started++;
    }

    boolean timedOut = false;
    boolean interrupted = false;
    try {
      if (deadline == null) {
        wake.await();
      } else {
        timedOut = !wake.await(deadlineNanos - (System.nanoTime() - start), TimeUnit.NANOSECONDS);
      }
    } catch (InterruptedException e) {
      interrupted = true;
    }
    if (timedOut || interrupted || firstFailure.get() != null) {
      for (int i = 0; i < started; i++) {
        threads[i].interrupt();
      }
    }
    boolean interruptedWhileJoining = false;
    for (int i = 0; i < started; i++) {
      while (true) {
        try {
          threads[i].join();
          break;
        } catch (InterruptedException e) {
          // The outcome is decided; finish the clean-up and keep the interrupt for the caller.
          interruptedWhileJoining = true;
        }
      }
    }
    if (interruptedWhileJoining) {
      Thread.currentThread().interrupt();
    }

    if (interrupted) {
      throw new InterruptedException();
    }
    if (timedOut) {
      throw new DeadlinePassed();
    }
    Throwable failure = firstFailure.get();
    if (failure != null) {
      throw new SubtaskFailed(failure);
    }
    @SuppressWarnings("unchecked")
    List<T> list = (List<T>) Collections.unmodifiableList(Arrays.asList(results));
    return list;
  }

  private static void drain(CountDownLatch latch) {
    while (latch.getCount() > 0) {
      latch.countDown();
    }
  }

  private static long saturatedNanos(Duration duration) {
    try {
      return duration.toNanos();
    } catch (ArithmeticException tooLong) {
      return Long.MAX_VALUE / 2;
    }
  }
}
