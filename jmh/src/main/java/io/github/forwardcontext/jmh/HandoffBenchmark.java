package io.github.forwardcontext.jmh;

import io.github.forwardcontext.ForwardContext;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;

/**
 * Handing the context over to a thread that does not inherit it: {@code
 * ForwardContext.wrap(task).run()} (capture the bound context, bind it again around the task)
 * against the same done by hand with a raw {@code ScopedValue}: {@code ScopedValue.where(K,
 * K.get()).run(task)}. Both run on the benchmark thread, inside bindings made once per worker
 * thread by {@link BoundWorkerExecutor}, so the hand-off is measured without a pool's queueing.
 *
 * <p>Run: {@code ./mvnw -q -f jmh/pom.xml package exec:exec -Djmh.args="-prof gc Handoff"}
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class HandoffBenchmark extends BoundWorkerBenchmark {
  private static final Runnable TASK = () -> ForwardContext.current().currentTimestep();
  private static final Runnable RAW_TASK = () -> Peers.RAW.get().currentTimestep();

  @Benchmark
  public void library() {
    ForwardContext.wrap(TASK).run();
  }

  @Benchmark
  public void rawScopedValue() {
    ScopedValue.where(Peers.RAW, Peers.RAW.get()).run(RAW_TASK);
  }
}
