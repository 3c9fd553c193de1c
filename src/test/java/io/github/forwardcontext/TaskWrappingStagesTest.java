package io.github.forwardcontext;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * What {@link ForwardContext#taskWrapping(ExecutorService)}'s javadoc says about {@code
 * CompletableFuture} stages: a stage sees the context of the thread that completed its trigger.
 */
class TaskWrappingStagesTest implements NoContextLeftBound {

  private final ExecutorService pool = Executors.newFixedThreadPool(2);
  private final ExecutorService io = ForwardContext.taskWrapping(pool);

  @AfterEach
  void closePool() {
    pool.shutdownNow();
  }

  @Test
  void supplyAsyncAndAStageChainedOnItSeeTheContext() {
    String seen =
        ForwardContext.where(5, () -> 1)
            .call(
                () ->
                    CompletableFuture.supplyAsync(() -> timestep(), io)
                        .thenApplyAsync(first -> first + "," + timestep(), io)
                        .join());

    assertThat(seen).isEqualTo("5,5");
  }

  @Test
  void aStageTriggeredByTheTimeoutThreadRunsUnboundUnlessItCallsWhatWasCapturedWhileBound() {
    String[] seen =
        ForwardContext.where(6, () -> 1)
            .call(
                () -> {
                  Supplier<String> captured = ForwardContext.wrapSupplier(() -> timestep());
                  CompletableFuture<String> never = new CompletableFuture<>();
                  // Both stages wait before the timeout is armed: the JDK's delayer thread, which
                  // has no context, completes their trigger and hands them to io.
                  CompletableFuture<String> plain = never.exceptionallyAsync(e -> timestep(), io);
                  CompletableFuture<String> reliable =
                      never.exceptionallyAsync(e -> captured.get(), io);
                  never.orTimeout(1, TimeUnit.MILLISECONDS);
                  return new String[] {plain.join(), reliable.join()};
                });

    assertThat(seen).containsExactly("unbound", "6");
  }

  private static String timestep() {
    return ForwardContext.find().map(c -> String.valueOf(c.currentTimestep())).orElse("unbound");
  }
}
