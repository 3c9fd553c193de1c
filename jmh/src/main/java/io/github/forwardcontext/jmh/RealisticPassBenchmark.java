package io.github.forwardcontext.jmh;

import io.github.forwardcontext.ForwardContext;
import io.github.forwardcontext.structured.FanOut;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.Scope;
import java.util.concurrent.StructuredTaskScope;
import java.util.concurrent.StructuredTaskScope.Joiner;
import java.util.concurrent.StructuredTaskScope.Subtask;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;

/**
 * A whole forward pass as a model makes one: bind, 64 reads spread over eight levels of the call
 * stack, then eight forked subtasks (attention heads) that read it too. The library against
 * OpenTelemetry's Context (subtasks wrapped with {@code Context.wrap}) and a {@code ThreadLocal}
 * propagated into each subtask by hand.
 *
 * <p>Run: {@code ./mvnw -q -f jmh/pom.xml package exec:exec -Djmh.args="-prof gc RealisticPass"}
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class RealisticPassBenchmark extends ForkedBenchmark {
  private static final int DEPTH = 8;
  private static final int READS_PER_LEVEL = 8;
  private static final int HEADS = 8;
  private static final FanOut HEADS_FAN_OUT = FanOut.named("head");

  @FunctionalInterface
  interface Reader {
    ForwardContext read();
  }

  /** Eight levels of "layers", each reading the context eight times. */
  private static int layers(int depth, Reader reader) {
    int sum = 0;
    for (int i = 0; i < READS_PER_LEVEL; i++) {
      sum += reader.read().currentTimestep();
    }
    return depth == 1 ? sum : sum + layers(depth - 1, reader);
  }

  @Benchmark
  public int library() throws Exception {
    return Peers.CONTEXT.call(
        () -> {
          int sum = layers(DEPTH, ForwardContext::current);
          for (int t :
              HEADS_FAN_OUT.invokeAll(HEADS, h -> ForwardContext.current().currentTimestep())) {
            sum += t;
          }
          return sum;
        });
  }

  @Benchmark
  public int openTelemetry() throws Exception {
    try (Scope scope = Context.current().with(Peers.OTEL, Peers.CONTEXT).makeCurrent()) {
      int sum = layers(DEPTH, () -> Context.current().get(Peers.OTEL));
      try (var heads = StructuredTaskScope.open(Joiner.<Integer>allSuccessfulOrThrow())) {
        for (int h = 0; h < HEADS; h++) {
          heads.fork(
              Context.current().wrap(() -> Context.current().get(Peers.OTEL).currentTimestep()));
        }
        return sum + heads.join().mapToInt(Subtask::get).sum();
      }
    }
  }

  @Benchmark
  public int threadLocal() throws Exception {
    Peers.THREAD_LOCAL.set(Peers.CONTEXT);
    try {
      int sum = layers(DEPTH, Peers.THREAD_LOCAL::get);
      ForwardContext captured = Peers.THREAD_LOCAL.get();
      try (var heads = StructuredTaskScope.open(Joiner.<Integer>allSuccessfulOrThrow())) {
        for (int h = 0; h < HEADS; h++) {
          heads.fork(
              () -> {
                Peers.THREAD_LOCAL.set(captured);
                try {
                  return Peers.THREAD_LOCAL.get().currentTimestep();
                } finally {
                  Peers.THREAD_LOCAL.remove();
                }
              });
        }
        return sum + heads.join().mapToInt(Subtask::get).sum();
      }
    } finally {
      Peers.THREAD_LOCAL.remove();
    }
  }
}
