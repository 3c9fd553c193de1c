package io.github.forwardcontext.jmh;

import io.github.forwardcontext.ForwardContext;
import io.opentelemetry.context.Context;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;

/**
 * Reading the context deep inside a forward pass: {@code ForwardContext.current()} against a raw
 * {@code ScopedValue.get()}, {@code ThreadLocal.get()} and OpenTelemetry's {@code
 * Context.current().get(key)}. Every worker thread runs inside live bindings of all four, made once
 * for the thread by {@link BoundWorkerExecutor}.
 *
 * <p>Run: {@code ./mvnw -q -f jmh/pom.xml package exec:exec -Djmh.args="-prof gc ReadBenchmark"}
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class ReadBenchmark extends BoundWorkerBenchmark {

  @Benchmark
  public void baseline() {}

  @Benchmark
  public ForwardContext library() {
    return ForwardContext.current();
  }

  @Benchmark
  public ForwardContext rawScopedValue() {
    return Peers.RAW.get();
  }

  @Benchmark
  public ForwardContext threadLocal() {
    return Peers.THREAD_LOCAL.get();
  }

  @Benchmark
  public ForwardContext openTelemetry() {
    return Context.current().get(Peers.OTEL);
  }
}
