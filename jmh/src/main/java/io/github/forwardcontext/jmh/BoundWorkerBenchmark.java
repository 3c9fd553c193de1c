package io.github.forwardcontext.jmh;

import org.openjdk.jmh.annotations.Fork;

/**
 * The run settings of benchmarks whose worker threads live inside bindings made once per thread by
 * {@link BoundWorkerExecutor}: JMH's custom executor on top of {@link ForkedBenchmark}'s settings.
 */
@Fork(
    value = 2,
    jvmArgsAppend = {
      "--enable-preview",
      "-Xms1g",
      "-Xmx1g",
      "-XX:+AlwaysPreTouch",
      "-Djmh.executor=CUSTOM",
      "-Djmh.executor.class=io.github.forwardcontext.jmh.BoundWorkerExecutor"
    })
public abstract class BoundWorkerBenchmark extends ForkedBenchmark {}
