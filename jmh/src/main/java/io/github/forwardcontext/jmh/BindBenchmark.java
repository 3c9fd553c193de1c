package io.github.forwardcontext.jmh;

import io.github.forwardcontext.ForwardContext;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.Scope;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.State;

/**
 * Binding a context for one operation that reads it once: {@code ForwardContext.where(t,
 * meta).call(op)} against a raw {@code ScopedValue.where(K, record).call(op)}, a {@code
 * ThreadLocal} set with a try/finally restore, and OpenTelemetry's {@code Context.current().with(k,
 * v).makeCurrent()}. Each builds its context record per pass, from inputs precomputed in the state
 * and indexed with a mask.
 *
 * <p>Run: {@code ./mvnw -q -f jmh/pom.xml package exec:exec -Djmh.args="-prof gc BindBenchmark"}
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@State(org.openjdk.jmh.annotations.Scope.Thread)
public class BindBenchmark extends ForkedBenchmark {
  private final Peers.Meta[] metas = Peers.metas(16);
  private int next;

  @Benchmark
  public void baseline() {}

  @Benchmark
  public ForwardContext library() {
    int i = next++ & 15;
    return ForwardContext.where(i, metas[i]).call(Peers.READ_LIBRARY);
  }

  @Benchmark
  public ForwardContext rawScopedValue() {
    int i = next++ & 15;
    return ScopedValue.where(Peers.RAW, new ForwardContext(i, metas[i], null)).call(Peers.READ_RAW);
  }

  @Benchmark
  public ForwardContext threadLocal() {
    int i = next++ & 15;
    ForwardContext previous = Peers.THREAD_LOCAL.get();
    Peers.THREAD_LOCAL.set(new ForwardContext(i, metas[i], null));
    try {
      return Peers.THREAD_LOCAL.get();
    } finally {
      Peers.THREAD_LOCAL.set(previous);
    }
  }

  @Benchmark
  public ForwardContext openTelemetry() {
    int i = next++ & 15;
    try (Scope scope =
        Context.current().with(Peers.OTEL, new ForwardContext(i, metas[i], null)).makeCurrent()) {
      return Context.current().get(Peers.OTEL);
    }
  }
}
