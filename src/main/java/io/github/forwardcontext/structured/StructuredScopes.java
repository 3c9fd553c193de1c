package io.github.forwardcontext.structured;

import io.github.forwardcontext.internal.Forks;
import java.time.Duration;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.StructuredTaskScope;
import java.util.concurrent.StructuredTaskScope.Joiner;
import java.util.concurrent.ThreadFactory;

/**
 * The only code that touches the structured concurrency preview API. It changed between JDK 25 and
 * 26 (joiner names and result types); porting the library to a new release should touch this file
 * alone.
 *
 * <p>{@link FanOut} never names this class: it loads it by name when it initialises, and a JVM that
 * cannot load a Java 25 preview class file (no {@code --enable-preview}, or any JDK but 25) makes
 * {@code FanOut} fall back to {@link VirtualThreads}.
 *
 * <p>It keeps the rules of the library's engine on plain virtual threads, {@link Forks}, and
 * records every subtask failure in the same {@link Forks.Failures}. One difference is the JDK's:
 * the scope forks every subtask before it waits, and a subtask forked after the scope was cancelled
 * does not run.
 */
final class StructuredScopes implements Forking {

  // Instantiated reflectively by FanOut.
  StructuredScopes() {}

  @Override
  public <T> List<T> forkAll(
      String name, int count, Subtask<T> subtask, Duration deadline, Forks.Failures failures)
      throws InterruptedException {
    ThreadFactory threads = Thread.ofVirtual().name(name).factory();
    try (var scope =
        StructuredTaskScope.open(
            Joiner.<T>allSuccessfulOrThrow(),
            config -> {
              var c = config.withName(name).withThreadFactory(threads);
              return deadline == null ? c : c.withTimeout(deadline);
            })) {
      for (int i = 0; i < count; i++) {
        scope.fork(failures.recording(subtask.forIndex(i)));
      }
      Object[] results = scope.join().map(StructuredTaskScope.Subtask::get).toArray();
      @SuppressWarnings("unchecked")
      List<T> list = (List<T>) Collections.unmodifiableList(Arrays.asList(results));
      return list;
    } catch (StructuredTaskScope.FailedException e) {
      // Thrown after close(): every subtask has ended.
      throw new Forks.SubtaskFailed(e.getCause());
    } catch (StructuredTaskScope.TimeoutException e) {
      throw new Forks.DeadlinePassed();
    } catch (InterruptedException e) {
      // Thrown after close(), which waited for every subtask: the caller keeps its interrupt.
      Thread.currentThread().interrupt();
      throw e;
    }
  }
}
