package io.github.forwardcontext.snippets;

import io.github.forwardcontext.ThreadLocalContexts;
import io.github.forwardcontext.structured.FanOut;
import io.micrometer.context.ContextRegistry;
import io.micrometer.context.integration.Slf4jThreadLocalAccessor;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeoutException;
import org.slf4j.MDC;

/** The code shown in {@link ThreadLocalContexts}' and {@link FanOut}'s javadoc; it compiles. */
final class ThreadLocalContextsSnippets {
  private ThreadLocalContextsSnippets() {}

  static ExecutorService setup() {
    // @start region="setup"
    // Once, at start-up: the MDC joins the carried contexts. The current Observation, and with it
    // Micrometer Tracing's current span, is registered in the global registry already.
    ContextRegistry.getInstance().registerThreadLocalAccessor(new Slf4jThreadLocalAccessor());
    ThreadLocalContexts contexts = ThreadLocalContexts.fromGlobalRegistry();

    // Pool tasks run with the submitter's MDC, tracing context and forward context.
    ExecutorService io = contexts.taskWrapping(Executors.newFixedThreadPool(4));
    // @end
    return io;
  }

  static List<String> fanOut(ThreadLocalContexts contexts)
      throws InterruptedException, TimeoutException {
    // @start region="fanOut"
    FanOut heads = FanOut.named("attention-head").withThreadLocalContexts(contexts);

    MDC.put("request.id", "r-42");
    // every head logs with request.id=r-42, in either mode
    List<String> ids = heads.invokeAll(8, head -> MDC.get("request.id"));
    // @end
    MDC.remove("request.id");
    return ids;
  }
}
