package io.github.forwardcontext;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.Test;

/** The "not set" failure says where it happened and, off the binding thread, how to hand over. */
class NotSetMessageTest implements NoContextLeftBound {

  @Test
  void onAPoolThreadTheMessageNamesTheThreadAndPointsToTheHandOff() throws Exception {
    ExecutorService pool =
        Executors.newSingleThreadExecutor(r -> new Thread(r, "weights-loader-1"));
    try {
      Throwable failure =
          ForwardContext.where(1, new TestMetadata(2))
              .call(
                  () -> {
                    try {
                      pool.submit(ForwardContext::current).get();
                      return null;
                    } catch (ExecutionException e) {
                      return e.getCause();
                    }
                  });

      assertThat(failure)
          .isInstanceOf(IllegalStateException.class)
          .hasMessageStartingWith("Forward context is not set on thread 'weights-loader-1'")
          .hasMessageContaining("ForwardContext.wrap(task)")
          .hasMessageContaining("wrapSupplier(supplier)")
          .hasMessageContaining("ForwardContext.taskWrapping(executor)");
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void onACompletableFutureStageTheMessageNamesTheCommonPoolWorker() {
    CompletableFuture<ForwardContext> stage =
        ForwardContext.where(1, new TestMetadata(2))
            .call(() -> CompletableFuture.supplyAsync(ForwardContext::current));

    assertThatThrownBy(stage::join)
        .cause()
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("on thread 'ForkJoinPool.commonPool-worker-")
        .hasMessageContaining("taskWrapping");
  }

  @Test
  void onAVirtualThreadTheMessageExplainsWhichVirtualThreadsInherit() throws Exception {
    Throwable[] failure = new Throwable[1];
    Thread thread =
        Thread.ofVirtual()
            .name("decoder-7")
            .start(
                () -> {
                  try {
                    ForwardContext.current();
                  } catch (IllegalStateException e) {
                    failure[0] = e;
                  }
                });
    thread.join();

    assertThat(failure[0])
        .hasMessageStartingWith("Forward context is not set on thread 'decoder-7'")
        .hasMessageContaining("StructuredTaskScope")
        .hasMessageContaining("ForwardContext.wrap(task)");
  }

  @Test
  void theBindingThreadStillGetsTheBindingAdvice() {
    assertThatThrownBy(ForwardContext::current)
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("ForwardContext.where(currentTimestep, attnMetadata[, forwardBatch])")
        .hasMessageContaining("BatchSizeTracker.where(...)");
  }
}
