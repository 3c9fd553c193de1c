package io.github.forwardcontext.structured;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.forwardcontext.ForwardContext;
import io.github.forwardcontext.NoContextLeftBound;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/**
 * What differs between the modes, seen from the preview JVM, where both are available. Its twin for
 * a JVM without {@code --enable-preview} is {@link FallbackModeTest}.
 */
class StructuredModeTest implements NoContextLeftBound {

  private static final ScopedValue<String> REQUEST_ID = ScopedValue.newInstance();

  @Test
  void thePreviewJvmRunsTheStructuredModeByDefaultAndKeepsNoCause() {
    assertThat(FanOut.defaultMode()).isEqualTo(FanOut.Mode.STRUCTURED);
    assertThat(FanOut.structuredUnavailabilityCause()).isEmpty();
    assertThat(FanOut.named("x").withMode(FanOut.Mode.STRUCTURED).mode())
        .isEqualTo(FanOut.Mode.STRUCTURED);
  }

  @Test
  void structuredSubtasksInheritEveryScopedValueOfTheCaller() throws Exception {
    List<String> seen =
        ScopedValue.where(REQUEST_ID, "r-1")
            .call(() -> FanOut.named("structured").invokeAll(2, i -> REQUEST_ID.orElse("unbound")));

    assertThat(seen).containsExactly("r-1", "r-1");
  }

  @Test
  void virtualThreadSubtasksInheritTheForwardContextAndNoOtherScopedValue() throws Exception {
    FanOut fallback = FanOut.named("fallback").withMode(FanOut.Mode.VIRTUAL_THREADS);

    List<String> seen =
        ScopedValue.where(REQUEST_ID, "r-2")
            .call(
                () ->
                    ForwardContext.where(4, () -> 1)
                        .call(
                            () ->
                                fallback.invokeAll(
                                    2,
                                    i ->
                                        ForwardContext.current().currentTimestep()
                                            + ":"
                                            + REQUEST_ID.orElse("unbound"))));

    assertThat(seen).containsExactly("4:unbound", "4:unbound");
  }

  @Test
  void theVirtualThreadModeLeavesNoThreadRunningAndNothingBoundInTheCaller() throws Exception {
    List<Thread> threads = new CopyOnWriteArrayList<>();
    FanOut fallback = FanOut.named("fallback").withMode(FanOut.Mode.VIRTUAL_THREADS);

    ForwardContext.where(9, () -> 1)
        .run(
            () -> {
              try {
                fallback.invokeAll(
                    8,
                    i -> {
                      threads.add(Thread.currentThread());
                      return ForwardContext.current();
                    });
              } catch (Exception e) {
                throw new AssertionError(e);
              }
              assertThat(ForwardContext.current().currentTimestep()).isEqualTo(9);
            });

    assertThat(threads).hasSize(8).noneMatch(Thread::isAlive);
    assertThat(ForwardContext.isBound()).isFalse();
  }

  @Test
  void copiesKeepTheModeTheyWereGiven() {
    FanOut fallback =
        FanOut.named("copies")
            .withMode(FanOut.Mode.VIRTUAL_THREADS)
            .withMaxParallelism(2)
            .withDeadline(java.time.Duration.ofSeconds(1));

    assertThat(fallback.mode()).isEqualTo(FanOut.Mode.VIRTUAL_THREADS);
    assertThat(fallback)
        .hasToString("FanOut[name=copies, mode=VIRTUAL_THREADS, maxParallelism=2, deadline=PT1S]");
  }
}
