package io.github.forwardcontext.jmh;

import io.github.forwardcontext.ForwardContext;
import io.github.forwardcontext.ThreadLocalContexts;
import io.github.forwardcontext.structured.FanOut;
import io.micrometer.context.ContextRegistry;
import io.micrometer.context.ContextSnapshotFactory;
import io.opentelemetry.context.Context;
import java.util.List;
import java.util.concurrent.StructuredTaskScope;
import java.util.concurrent.StructuredTaskScope.Joiner;
import java.util.concurrent.StructuredTaskScope.Subtask;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;

/**
 * A forward pass that forks 1,000 virtual-thread subtasks, each reading the context once: through
 * the library's {@link FanOut} in both its modes ({@code library}: structured, {@code
 * libraryVirtualThreads}: the fallback on plain virtual threads that runs wherever the preview API
 * cannot, forced here with {@code withMode(VIRTUAL_THREADS)} inside the same preview JVM), against
 * the same fan-out written with a raw {@code StructuredTaskScope} and a raw {@code ScopedValue},
 * with an {@code InheritableThreadLocal}, and with OpenTelemetry's {@code Context.wrap}-ped
 * callables.
 *
 * <p>Run: {@code ./mvnw -q -f jmh/pom.xml package exec:exec -Djmh.args="-prof gc FanOutBenchmark"}
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class FanOutBenchmark extends ForkedBenchmark {
  private static final int SUBTASKS = 1000;
  private static final FanOut FAN_OUT = FanOut.named("subtask").withMode(FanOut.Mode.STRUCTURED);

  /** Stands for the MDC: one thread-local value that the subtasks must see. */
  private static final ThreadLocal<String> REQUEST_ID = new ThreadLocal<>();

  private static final FanOut FAN_OUT_THREAD_LOCALS =
      FAN_OUT.withThreadLocalContexts(
          ThreadLocalContexts.using(
              ContextSnapshotFactory.builder()
                  .contextRegistry(
                      new ContextRegistry().registerThreadLocalAccessor("request.id", REQUEST_ID))
                  .clearMissing(true)
                  .build()));

  private static final FanOut FAN_OUT_VIRTUAL_THREADS =
      FanOut.named("subtask").withMode(FanOut.Mode.VIRTUAL_THREADS);

  @Benchmark
  public List<Integer> library() throws Exception {
    return Peers.CONTEXT.call(
        () -> FAN_OUT.invokeAll(SUBTASKS, i -> ForwardContext.current().currentTimestep()));
  }

  @Benchmark
  public List<Integer> libraryVirtualThreads() throws Exception {
    return Peers.CONTEXT.call(
        () ->
            FAN_OUT_VIRTUAL_THREADS.invokeAll(
                SUBTASKS, i -> ForwardContext.current().currentTimestep()));
  }

  @Benchmark
  public List<Integer> libraryThreadLocalContexts() throws Exception {
    REQUEST_ID.set("r-1");
    try {
      return Peers.CONTEXT.call(
          () ->
              FAN_OUT_THREAD_LOCALS.invokeAll(
                  SUBTASKS,
                  i -> ForwardContext.current().currentTimestep() + REQUEST_ID.get().length()));
    } finally {
      REQUEST_ID.remove();
    }
  }

  @Benchmark
  public List<Integer> rawScopedValue() throws Exception {
    return ScopedValue.where(Peers.RAW, Peers.CONTEXT)
        .call(
            () -> {
              try (var scope = StructuredTaskScope.open(Joiner.<Integer>allSuccessfulOrThrow())) {
                for (int i = 0; i < SUBTASKS; i++) {
                  scope.fork(() -> Peers.RAW.get().currentTimestep());
                }
                return scope.join().map(Subtask::get).toList();
              }
            });
  }

  @Benchmark
  public List<Integer> inheritableThreadLocal() throws Exception {
    Peers.INHERITABLE.set(Peers.CONTEXT);
    try (var scope = StructuredTaskScope.open(Joiner.<Integer>allSuccessfulOrThrow())) {
      for (int i = 0; i < SUBTASKS; i++) {
        scope.fork(() -> Peers.INHERITABLE.get().currentTimestep());
      }
      return scope.join().map(Subtask::get).toList();
    } finally {
      Peers.INHERITABLE.remove();
    }
  }

  @Benchmark
  public List<Integer> openTelemetry() throws Exception {
    Context context = Context.current().with(Peers.OTEL, Peers.CONTEXT);
    try (var scope = StructuredTaskScope.open(Joiner.<Integer>allSuccessfulOrThrow())) {
      for (int i = 0; i < SUBTASKS; i++) {
        scope.fork(context.wrap(() -> Context.current().get(Peers.OTEL).currentTimestep()));
      }
      return scope.join().map(Subtask::get).toList();
    }
  }
}
