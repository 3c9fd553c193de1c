package io.github.forwardcontext;

import io.github.forwardcontext.internal.Forks;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.Callable;

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
 *   <li>The microbatches start one by one, in order. The first to fail cancels the others (their
 *       threads are interrupted; those not yet started never run), and the call throws that
 *       microbatch's failure itself, never wrapped, whatever its type: an exception of the task's
 *       type {@code E}, an unchecked exception, an {@link Error}, and also a checked exception or a
 *       raw {@link Throwable} that the task threw without declaring it. The failures of the other
 *       microbatches are attached to it as {@linkplain Throwable#getSuppressed() suppressed}
 *       exceptions, except the {@link InterruptedException}s with which cancelled microbatches end:
 *       they are the cancellation, not failures of their own.
 *   <li>If the calling thread is interrupted before or while it waits, the microbatches are
 *       cancelled, the call waits for their threads to end and throws {@link InterruptedException},
 *       with the calling thread's interrupt status set again, so that the code above it sees the
 *       interrupt too.
 *   <li>A microbatch's thread is a plain virtual thread: it sees the forward context bound for it,
 *       not the caller's other scoped values. Like every new thread, it starts with the values of
 *       the caller's {@link InheritableThreadLocal}s, and no other thread-local, unless the
 *       microbatches {@linkplain #withThreadLocalContexts(ThreadLocalContexts) carry} the MDC, the
 *       current observation and the like.
 * </ul>
 *
 * These are the rules of {@link io.github.forwardcontext.structured.FanOut}, whose fallback mode
 * runs on the same engine (the library's internal {@code Forks}, where the rules are kept).
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
    Forks.Failures failures = new Forks.Failures();
    try {
      return Forks.forkAll(
          Thread.ofVirtual().name("microbatch-", 0),
          count,
          index -> {
            Callable<R> body =
                passes == null
                    ? () -> contexts[index].bindCall(() -> task.call(index))
                    : () -> passes[index].call(() -> task.call(index));
            // Untimed scopes of the caller's reach the microbatch threads, as a fork's would.
            return Untimed.carry(snapshot == null ? body : snapshot.wrap(body));
          },
          null,
          failures);
    } catch (Forks.SubtaskFailed failed) {
      throw failures.rethrowFirst(failed);
    } catch (InterruptedException callerInterrupted) {
      // The engine has set the calling thread's interrupt status again.
      throw failures.suppressInto(
          new InterruptedException("interrupted while waiting for the microbatches"));
    }
  }

  @Override
  public String toString() {
    return "Microbatches["
        + metadata
        + (tracker == null ? "" : ", timed")
        + (threadLocals == null ? "" : ", " + threadLocals)
        + "]";
  }
}
