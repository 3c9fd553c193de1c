package io.github.forwardcontext.jmh;

import io.github.forwardcontext.ForwardContext;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;

/**
 * A layer reading its own attention metadata deep inside a pass of a 48-layer hybrid model: {@code
 * ForwardContext.current().attnMetadata("layer.17", Meta.class)} against the floor, a raw {@code
 * ScopedValue.get()} of a record holding a plain {@code HashMap}, then {@code Map.get("layer.17")}
 * and a cast. Every worker thread runs inside both bindings, made once for the thread by {@link
 * PerLayerWorkerExecutor}. The layer name is a field (not a constant the JIT could fold), and the
 * map's keys are built at run time, as a model builds them: the lookup hashes and compares.
 *
 * <p>Run: {@code ./mvnw -q -f jmh/pom.xml package exec:exec -Djmh.args="-prof gc PerLayerRead"}
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@State(Scope.Thread)
@Fork(
    value = 2,
    jvmArgsAppend = {
      "--enable-preview",
      "-Xms1g",
      "-Xmx1g",
      "-XX:+AlwaysPreTouch",
      "-Djmh.executor=CUSTOM",
      "-Djmh.executor.class=io.github.forwardcontext.jmh.PerLayerWorkerExecutor"
    })
public class PerLayerReadBenchmark extends ForkedBenchmark {

  private String layer = "layer.17";

  @Benchmark
  public void baseline() {}

  @Benchmark
  public Peers.Meta library() {
    return ForwardContext.current().attnMetadata(layer, Peers.Meta.class);
  }

  @Benchmark
  public Peers.Meta rawMapGet() {
    return (Peers.Meta) PerLayerWorkerExecutor.RAW.get().layers().get(layer);
  }
}
