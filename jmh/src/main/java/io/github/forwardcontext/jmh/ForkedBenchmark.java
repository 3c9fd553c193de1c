package io.github.forwardcontext.jmh;

import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The run settings every benchmark class inherits. On this kind of VM, forks without a pre-touched
 * fixed heap see first-touch page faults distort allocating benchmarks 3 to 10 times in early
 * iterations; {@code --enable-preview} is for the structured fan-out.
 */
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(
    value = 2,
    jvmArgsAppend = {"--enable-preview", "-Xms1g", "-Xmx1g", "-XX:+AlwaysPreTouch"})
public abstract class ForkedBenchmark {}
