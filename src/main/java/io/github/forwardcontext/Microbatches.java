package io.github.forwardcontext;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Runs one forward pass as microbatches that overlap, each on its own virtual thread under its own
 * attention metadata: vLLM's dual-batch overlap, with a scoped binding per thread instead of a
 * global context swapped by hand.
 *
 * <p>Each microbatch binds a copy of the caller's forward context with the microbatch's metadata:
 * the timestep and the forward batch stay, and {@link ForwardContext#current()} on the microbatch's
 * thread (and in the structured subtasks it forks) returns the microbatch's metadata and so its
 * batch size. The metadata may be {@linkplain AttentionMetadata#perLayer(java.util.Map) per-layer},
 * one map per microbatch. A {@code Microbatches} is an immutable configuration; use one from any
 * number of threads.
 *
 * {@snippet class="io.github.forwardcontext.snippets.PerLayerSnippets" region="microbatches"}
 *
 * <h2>Life cycle of a call</h2>
 *
 * <ul>
 *   <li>It must be made inside a bound forward context, whose timestep and forward batch the
 *       microbatches keep.
 *   <li>Each microbatch runs in a new virtual thread named {@code microbatch-<index>}; the call
 *       returns when every one of them has finished, never earlier: no thread outlives the call.
 *   <li>The results come back in microbatch order.
 *   <li>The first microbatch to fail cancels the others (their threads are interrupted) and the
 *       call throws that microbatch's failure itself, never wrapped, whatever its type: an
 *       exception of the task's type {@code E}, an unchecked exception, an {@link Error}, and also
 *       a checked exception or a raw {@link Throwable} that the task threw without declaring it.
 *       The failures of the other microbatches are attached to it as {@linkplain
 *       Throwable#getSuppressed() suppressed} exceptions, except the {@link InterruptedException}
 *       with which a cancelled microbatch ends: that is the cancellation, not a failure of its own.
 *   <li>If the calling thread is interrupted before or while it waits, the microbatches are
 *       cancelled, the call waits for their threads to end and throws {@link InterruptedException},
 *       with the calling thread's interrupt status set again, so that the code above it sees the
 *       interrupt too: as {@link io.github.forwardcontext.structured.FanOut} does.
 *   <li>A microbatch's thread is a plain virtual thread: it sees the forward context bound for it,
 *       not the caller's other scoped values. Like every new thread, it starts with the values of
 *       the caller's {@link InheritableThreadLocal}s, and no other thread-local, unless the
 *       microbatches {@linkplain #withThreadLocalContexts(ThreadLocalContexts) carry} the MDC, the
 *       current observation and the like.
 * </ul>
 *
 * <h2>Timing</h2>
 *
 * The enclosing pass is timed once, as it was bound: a {@link BatchSizeTracker} pass around the
 * call records one duration under the whole batch's size. The microbatch bindings themselves are
 * untracked, like the re-bindings of {@link ForwardContext#wrap(Runnable)}, also when global
 * tracking is on: a step split in two is still one pass. With {@link #timedBy(BatchSizeTracker)},
 * each microbatch is in addition a tracked pass of that tracker under its own batch size: one
 * record per microbatch and call, besides the enclosing pass's one.
 *
 * <p>Unless otherwise specified, passing {@code null} to a method of this class throws {@link
 * NullPointerException}. This class uses no preview API.
 */
public final class Microbatches {

  /**
   * The work of one microbatch, given its index; it reads its metadata from {@link
   * ForwardContext#current()}.
   *
   * @param <R> the result type
   * @param <E> the checked exception the task may throw; a task that throws none gets {@link
   *     RuntimeException} inferred, and its caller need not handle any
   */
  @FunctionalInterface
  public interface Task<R, E extends Exception> {
    /**
     * {@return the microbatch's result}
     *
     * @param index the microbatch's index, from 0 to {@code count - 1}
     * @throws E if the microbatch fails
     */
    R call(int index) throws E;
  }

  private final List<AttentionMetadata> metadata;
  private final BatchSizeTracker tracker; // null: microbatches untimed
  private final ThreadLocalContexts threadLocals; // null: no thread-local contexts carried

  private Microbatches(
      List<AttentionMetadata> metadata,
      BatchSizeTracker tracker,
      ThreadLocalContexts threadLocals) {
    this.metadata = metadata;
    this.tracker = tracker;
    this.threadLocals = threadLocals;
  }

  /**
   * {@return untimed microbatches, one per metadata, in this order}
   *
   * @param metadata the attention metadata of each microbatch; none may be null
   * @throws IllegalArgumentException if {@code metadata} is empty
   */
  public static Microbatches of(AttentionMetadata... metadata) {
    return of(Arrays.asList(Objects.requireNonNull(metadata, "metadata")));
  }

  /**
   * {@return untimed microbatches, one per metadata, in list order}
   *
   * @param metadata the attention metadata of each microbatch; none may be null
   * @throws IllegalArgumentException if {@code metadata} is empty
   */
  public static Microbatches of(List<? extends AttentionMetadata> metadata) {
    Objects.requireNonNull(metadata, "metadata");
    List<AttentionMetadata> copy = new ArrayList<>(metadata.size());
    for (AttentionMetadata m : metadata) {
      copy.add(Objects.requireNonNull(m, () -> "metadata[" + copy.size() + "] must not be null"));
    }
    if (copy.isEmpty()) {
      throw new IllegalArgumentException(
          "metadata must hold at least one microbatch's metadata but was empty");
    }
    return new Microbatches(List.copyOf(copy), null, null);
  }

  /**
   * {@return a copy of these microbatches that times each one as a pass of {@code tracker}, under
   * the microbatch's own batch size} See "Timing" above.
   *
   * @param tracker the tracker that times the microbatches
   */
  public Microbatches timedBy(BatchSizeTracker tracker) {
    return new Microbatches(metadata, Objects.requireNonNull(tracker, "tracker"), threadLocals);
  }

  /**
   * {@return a copy of these microbatches that carries the caller's thread-local contexts (MDC, the
   * current {@code Observation} and its span, ...) into each microbatch thread} They are captured
   * once per {@link #call(Task) call}, on the calling thread, restored around each microbatch, and
   * left behind on no thread; as {@code FanOut.withThreadLocalContexts} does.
   *
   * @param contexts the thread-local contexts to carry
   */
  public Microbatches withThreadLocalContexts(ThreadLocalContexts contexts) {
    return new Microbatches(metadata, tracker, Objects.requireNonNull(contexts, "contexts"));
  }

  /** {@return the attention metadata of each microbatch, in order} */
  public List<AttentionMetadata> metadata() {
    return metadata;
  }

  /**
   * Runs {@code task} once per microbatch, each on its own virtual thread under the caller's
   * forward context with the microbatch's metadata, and returns the results in microbatch order.
   * See the class description for the life cycle.
   *
   * <p>The caller handles what the task declares and nothing more: with a task that throws no
   * checked exception, {@code E} is inferred as {@link RuntimeException}, and only {@link
   * InterruptedException} remains.
   *
   * @param task the work of a microbatch
   * @param <R> the result type
   * @param <E> the checked exception the task may throw
   * @return the results, in microbatch order (a microbatch may return {@code null})
   * @throws E the failure of the first microbatch to fail, as itself
   * @throws InterruptedException if the calling thread was interrupted before or while waiting; its
   *     interrupt status is then set
   * @throws IllegalStateException if no forward context is bound
   * @throws IllegalArgumentException if this is {@linkplain #timedBy(BatchSizeTracker) timed} and a
   *     microbatch's metadata reports a negative batch size
   */
  public <R, E extends Exception> List<R> call(Task<? extends R, E> task)
      throws E, InterruptedException {
    Objects.requireNonNull(task, "task");
    ForwardContext outer = ForwardContext.current();
    int count = metadata.size();
    // Contexts and tracked passes are built here, so bad input fails before any thread starts.
    ForwardContext[] contexts = new ForwardContext[count];
    BatchSizeTracker.TrackedPass[] passes =
        tracker == null ? null : new BatchSizeTracker.TrackedPass[count];
    for (int i = 0; i < count; i++) {
      AttentionMetadata m = metadata.get(i);
      if (passes == null) {
        contexts[i] = outer.withAttnMetadata(m);
      } else {
        passes[i] = tracker.where(outer.currentTimestep(), m, outer.forwardBatch());
      }
    }
    if (Thread.currentThread().isInterrupted()) {
      // The status stays set, as after an interrupt while waiting.
      throw new InterruptedException("interrupted before the microbatches started");
    }
    ThreadLocalContexts.Snapshot snapshot = threadLocals == null ? null : threadLocals.capture();
    return new Run<R>(count).call(task, contexts, passes, snapshot);
  }

  @Override
  public String toString() {
    return "Microbatches["
        + metadata
        + (tracker == null ? "" : ", timed")
        + (threadLocals == null ? "" : ", " + threadLocals)
        + "]";
  }

  /*
   * One call's threads. Every thread is created before any starts, so a failing microbatch can
   * always interrupt the others. The 'cancelled' flag is written before the interrupts: a thread
   * that starts its task after the flag was set sees it and skips the task; one that checked the
   * flag earlier is alive, so the interrupt reaches it.
   */
  private static final class Run<R> {
    private final Thread[] threads;
    private final Object[] results;
    private final AtomicReference<Throwable> first = new AtomicReference<>();
    private final List<Throwable> others = new ArrayList<>(); // guarded by itself
    private volatile boolean cancelled;

    Run(int count) {
      this.threads = new Thread[count];
      this.results = new Object[count];
    }

    <E extends Exception> List<R> call(
        Task<? extends R, E> task,
        ForwardContext[] contexts,
        BatchSizeTracker.TrackedPass[] passes,
        ThreadLocalContexts.Snapshot snapshot)
        throws E, InterruptedException {
      for (int i = 0; i < threads.length; i++) {
        int index = i;
        ForwardContext context = contexts[i];
        BatchSizeTracker.TrackedPass pass = passes == null ? null : passes[i];
        Runnable body = () -> runOne(index, task, context, pass);
        threads[i] =
            Thread.ofVirtual()
                .name("microbatch-" + i)
                .unstarted(snapshot == null ? body : snapshot.wrap(body));
      }
      int started = 0;
      try {
        for (Thread thread : threads) {
          thread.start();
          started++;
        }
      } catch (RuntimeException | Error e) {
        // Thread creation failed (out of memory): cancel and wait for the ones already running.
        cancel();
        joinUninterruptibly(started);
        throw e;
      }
      try {
        for (Thread thread : threads) {
          thread.join();
        }
      } catch (InterruptedException e) {
        cancel();
        joinUninterruptibly(threads.length);
        InterruptedException interrupted =
            new InterruptedException("interrupted while waiting for the microbatches");
        synchronized (others) {
          Throwable failure = first.get();
          if (failure != null) {
            interrupted.addSuppressed(failure);
          }
          others.forEach(interrupted::addSuppressed);
        }
        Thread.currentThread().interrupt();
        throw interrupted;
      }
      Throwable failure = first.get();
      if (failure != null) {
        synchronized (others) {
          others.forEach(failure::addSuppressed);
        }
        throw Run.<RuntimeException>sneaky(failure);
      }
      @SuppressWarnings("unchecked")
      List<R> list = (List<R>) Collections.unmodifiableList(Arrays.asList(results));
      return list;
    }

    // Throws any failure as itself: the rule is "never wrapped", also for what a task threw
    // without declaring it.
    @SuppressWarnings("unchecked")
    private static <X extends Throwable> X sneaky(Throwable failure) throws X {
      throw (X) failure;
    }

    private void runOne(
        int index,
        Task<? extends R, ?> task,
        ForwardContext context,
        BatchSizeTracker.TrackedPass pass) {
      if (cancelled) {
        return;
      }
      try {
        results[index] =
            pass == null
                ? context.bindCall(() -> task.call(index))
                : pass.call(() -> task.call(index));
      } catch (Throwable t) {
        failed(t);
      }
    }

    private void failed(Throwable t) {
      // A cancelled microbatch ends with InterruptedException: the cancellation, not a failure.
      if (cancelled && t instanceof InterruptedException) {
        return;
      }
      if (first.compareAndSet(null, t)) {
        cancel();
        return;
      }
      synchronized (others) {
        others.add(t);
      }
    }

    private void cancel() {
      cancelled = true;
      Thread self = Thread.currentThread();
      for (Thread thread : threads) {
        if (thread != null && thread != self) {
          thread.interrupt();
        }
      }
    }

    private void joinUninterruptibly(int count) {
      boolean interrupted = false;
      for (int i = 0; i < count; i++) {
        while (true) {
          try {
            threads[i].join();
            break;
          } catch (InterruptedException e) {
            interrupted = true;
          }
        }
      }
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
  }
}
