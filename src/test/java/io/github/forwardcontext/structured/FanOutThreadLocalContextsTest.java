package io.github.forwardcontext.structured;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.forwardcontext.NoContextLeftBound;
import io.github.forwardcontext.ThreadLocalContexts;
import io.micrometer.context.ContextRegistry;
import io.micrometer.context.ContextSnapshotFactory;
import io.micrometer.context.integration.Slf4jThreadLocalAccessor;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.slf4j.MDC;

/**
 * FanOut subtasks carrying the caller's MDC (real Logback). Run in both modes, like {@link
 * FanOutTest}.
 */
class FanOutThreadLocalContextsTest implements NoContextLeftBound {

  private static final ThreadLocalContexts MDC_ONLY =
      ThreadLocalContexts.using(
          ContextSnapshotFactory.builder()
              .contextRegistry(
                  new ContextRegistry().registerThreadLocalAccessor(new Slf4jThreadLocalAccessor()))
              .clearMissing(true)
              .build());

  @AfterEach
  void clearMdc() {
    MDC.clear();
  }

  @Test
  void theCallersMdcIsVisibleInEverySubtaskAndTheCallersOwnIsUntouched() throws Exception {
    FanOut heads = FanOut.named("mdc-heads").withThreadLocalContexts(MDC_ONLY);
    assertThat(heads.mode()).isEqualTo(FanOutTest.expectedMode());
    MDC.put("request.id", "r-1");

    List<String> seen =
        heads.invokeAll(64, i -> heads.invokeAll(2, j -> MDC.get("request.id")).get(1));

    assertThat(seen).hasSize(64).containsOnly("r-1");
    assertThat(MDC.getCopyOfContextMap()).containsExactly(java.util.Map.entry("request.id", "r-1"));
  }

  @Test
  void withoutThreadLocalContextsSubtasksSeeNoMdc() throws Exception {
    MDC.put("request.id", "r-2");

    List<String> seen = FanOut.named("plain").invokeAll(4, i -> MDC.get("request.id"));

    assertThat(seen).containsOnly((String) null);
  }

  @Test
  void concurrentRequestsWithDifferentMdcNeverSeeEachOthers() throws Exception {
    FanOut shared = FanOut.named("shared-mdc").withThreadLocalContexts(MDC_ONLY);
    // All 8 subtasks of both requests wait for each other: they run at the same time.
    CyclicBarrier allTogether = new CyclicBarrier(8);

    List<List<String>> byRequest =
        FanOut.named("requests")
            .invokeAll(
                2,
                request -> {
                  MDC.put("request.id", "req-" + request);
                  try {
                    return shared.invokeAll(
                        4,
                        i -> {
                          allTogether.await(30, TimeUnit.SECONDS);
                          return MDC.get("request.id");
                        });
                  } finally {
                    MDC.clear();
                  }
                });

    assertThat(byRequest.get(0)).hasSize(4).containsOnly("req-0");
    assertThat(byRequest.get(1)).hasSize(4).containsOnly("req-1");
  }
}
