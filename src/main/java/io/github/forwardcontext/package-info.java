/**
 * The forward context of a model forward pass, bound with {@link java.lang.ScopedValue}, and the
 * batch-size timing of passes as Micrometer timers.
 *
 * <p>Start with {@link io.github.forwardcontext.ForwardContext} (binding and reading) and {@link
 * io.github.forwardcontext.BatchSizeTracker} (timing). This package uses no preview API: it runs on
 * any Java 25 or later runtime without {@code --enable-preview}.
 *
 * <h2 id="recorded">What a tracker records</h2>
 *
 * <ul>
 *   <li>A Micrometer {@link io.micrometer.core.instrument.Timer} named {@value
 *       BatchSizeTracker#METER_NAME} per batch size, tagged with the tracker's {@linkplain
 *       BatchSizeTracker.Builder#tags(String...) common tags} and {@value
 *       BatchSizeTracker#BATCH_SIZE_TAG} with the decimal batch size. Timers are registered once
 *       per batch size and kept; the hot path only records. Histograms are off unless the
 *       application asks for them ({@link BatchSizeTracker.Builder#publishHistogram()}), as
 *       Micrometer advises libraries; {@link ForwardPassHistograms} explains the fleet-wide
 *       quantiles they give and the number of series.
 *   <li>At most {@link BatchSizeTracker.Builder#maxBatchSizes(int) maxBatchSizes} distinct batch
 *       sizes get a tag of their own. Passes of further sizes are recorded under {@value
 *       BatchSizeTracker#BATCH_SIZE_TAG}{@code =}{@value BatchSizeTracker#OTHER_TAG} (or, with
 *       {@linkplain BatchSizeTracker.Builder#batchSizeBins(int...) bins}, under their bin), and one
 *       warning is logged. Nothing is dropped.
 *   <li>A per-batch-size histogram for the {@linkplain BatchSizeTracker#stats() median}: counts in
 *       log-linear buckets at most 1/128 wide (HdrHistogram's layout at two significant digits),
 *       durations clamped at one hour. No list of samples is kept. The counts are striped by thread
 *       (twice the number of processors, rounded up to a power of two, at most 64 stripes), and a
 *       stripe allocates 1 KiB per power of two of durations it sees, 36 KiB at most, besides a
 *       table of {@code stripes * 36} references per batch size. Finding a batch size's counts is
 *       one array access for sizes below 65,536 (an array of at most 256 KiB that grows by
 *       doubling) and a hash probe above. Memory is therefore bounded by {@code (maxBatchSizes + 1)
 *       * stripes * (36 KiB + 144 B) + 256 KiB}, however many passes are timed; passes within a few
 *       powers of two take a few KiB per stripe. For example, 1024 batch sizes on 2 processors (4
 *       stripes) whose passes span 3 powers of two take {@code 1025 * 4 * (3 KiB + 144 B)}, about
 *       12.6 MiB, at most, and less when fewer threads record each size.
 * </ul>
 *
 * <h2 id="stages">Stages: several trackers on one registry</h2>
 *
 * A service with several stages (a text encoder, a denoiser, a decoder) builds one tracker per
 * stage on one registry, each with tags of its own:
 *
 * {@snippet class="io.github.forwardcontext.snippets.StagesSnippets" region="stages"}
 *
 * A tracker claims its registry and tags when it is built. {@link BatchSizeTracker.Builder#build()}
 * fails with an {@link IllegalStateException} when another live tracker has the same tags on the
 * same registry (their timers would merge), and when another live tracker on that registry differs
 * in its histogram setting (Prometheus cannot export one name as a histogram and as a summary at
 * once, and its scrape would fail). Two registries meet when one is, or holds, the other: a tracker
 * on a {@code CompositeMeterRegistry} (Micrometer's global registry, say) meets the trackers on
 * each registry it holds when the claim is made. Tags are compared as each registry exports them
 * ({@code stage.name} and {@code stage_name} are one key after the snake-case naming convention).
 *
 * <p>The claim lasts until the tracker is {@linkplain BatchSizeTracker#close() closed}, which
 * removes its timers first and releases the claim last, so that once {@code close()} returns a
 * tracker with the same tags can be built; an application that rebuilds its trackers (a reload, a
 * test) closes the old one first. A tracker that is garbage collected without being closed gives up
 * its claim but leaves its timers in the registry, where a later tracker with the same tags goes on
 * counting them: close the trackers you drop. The global tracker takes part in these checks; if
 * another tracker claimed the global registry first, global tracking cannot start, which is logged
 * at {@code ERROR}, and every globally tracked pass fails naming the conflict, as with a malformed
 * setting.
 *
 * <h2 id="report">The report</h2>
 *
 * Every {@link BatchSizeTracker.Builder#loggingInterval(Duration) loggingInterval} (1000 s by
 * default), the first pass to finish after the interval has passed starts the report, which logs
 * the line
 *
 * <pre>
 * {@code Batchsize forward time stats (batchsize, count, median_time(ms)): [(8, 120, 12.34), ...]}
 * </pre>
 *
 * through {@link System.Logger} at {@code INFO}, under the logger name {@code
 * io.github.forwardcontext.BatchSizeTracker}, at most once per interval even when many threads
 * finish at the same moment. A tracker with common tags names them before the colon: {@code
 * Batchsize forward time stats (batchsize, count, median_time(ms)) for stage=denoise: [...]}. The
 * rows are {@link BatchSizeTracker#stats()}, so batch sizes with a single pass are left out; an
 * empty report is not logged. The report is computed and logged on a virtual thread of its own,
 * which inherits nothing from the pass: no pass waits for it, and no request's context (its MDC,
 * say) tags the line. While a report is still being made, a due one is skipped, so reports never
 * pile up.
 *
 * <p>Without a logging provider the JDK sends {@code System.Logger} to {@code java.util.logging}.
 * In an SLF4J application (Logback, Log4j 2 through SLF4J), add {@code
 * org.slf4j:slf4j-jdk-platform-logging} to the runtime class path: the line then arrives through
 * SLF4J, at {@code INFO}, under the same logger name, with the application's layout.
 *
 * <h2 id="observations">Observations</h2>
 *
 * With an {@linkplain BatchSizeTracker.Builder#observationRegistry observation registry}, each
 * timed pass is also a Micrometer {@link io.micrometer.observation.Observation} ({@link
 * io.github.forwardcontext.observation.ForwardPassObservationDocumentation#FORWARD_PASS}), whose
 * scope is open while the pass runs: with a tracing bridge, the pass is a span, a child of the
 * caller's span, and the spans made inside the pass are its children. Its low-cardinality keys are
 * the tracker's common tags and {@value BatchSizeTracker#BATCH_SIZE_TAG}. Without a registry, no
 * observation object is made and the pass costs what it costs without.
 *
 * <h2 id="failures">Failures in a tracker</h2>
 *
 * A failure in the tracker's own machinery never breaks a forward pass, nor changes its outcome:
 * the operation's result, or its own exception, is what the caller gets. The rules:
 *
 * <ul>
 *   <li>The {@linkplain BatchSizeTracker.Builder#beforeClockStops before-stop hook}: anything it
 *       throws, an {@link Error} or a checked exception thrown sneakily included, is logged and the
 *       pass is recorded. The one exception is a {@link VirtualMachineError} (such as {@link
 *       OutOfMemoryError}), which propagates, but only after the pass is recorded.
 *   <li>The {@linkplain BatchSizeTracker.Builder#clock clock}: if it throws when the pass starts,
 *       the operation runs untimed; if it throws when the pass ends, that pass is not recorded.
 *       Either way the failure is logged.
 *   <li>Micrometer: a timer that fails to record is logged; the pass is still counted in {@link
 *       BatchSizeTracker#stats()}. A timer that fails to register (a {@code MeterFilter} that
 *       throws, say) is logged with its tags, the size's passes are counted in {@link
 *       BatchSizeTracker#stats()} only, and registration is tried again from a later pass of that
 *       size: after 1 s, then after twice as long each time, up to once a minute. Once it succeeds,
 *       the timer counts from there on.
 *   <li>The report, the observations and the logging backend itself: a logger whose backend throws
 *       is ignored. An observation whose start fails halfway (one handler started, the next threw)
 *       is still stopped with the pass; Micrometer stops the handlers in reverse order and gives up
 *       at the first that throws, so a handler's stop is reached only if every handler registered
 *       after it stops without throwing.
 * </ul>
 *
 * The first failure of each kind is logged at {@code WARNING}, later ones at {@code DEBUG}; for
 * timer registration, the first failure of each tag. A registration retry holds only its own size's
 * lock: the passes of other sizes, and new sizes, never wait for it.
 *
 * <h2 id="global">Global tracking</h2>
 *
 * FastVideo switches tracking on with a module flag. Here the start-up setting, the system property
 * {@code forwardcontext.log-batchsize-interval} or else the environment variable {@code
 * FORWARDCONTEXT_LOG_BATCHSIZE_INTERVAL}, in seconds, makes every {@link ForwardContext#run
 * ForwardContext.run} and {@link ForwardContext#call ForwardContext.call} (and so every {@code
 * ForwardContext.where(..).run(..)}) a tracked pass on Micrometer's {@linkplain
 * io.micrometer.core.instrument.Metrics#globalRegistry global registry} with that logging interval,
 * when it is {@code >= 0}. Such a pass then checks its batch size like any tracked pass: a negative
 * one is an {@link IllegalArgumentException} before the operation runs. Contexts re-bound by {@link
 * ForwardContext#wrap(Runnable)} and its siblings, and the bindings of {@link Microbatches}, stay
 * untracked: the pass that handed them over, or split itself, is the one timed. The setting is read
 * once, when {@code ForwardContext} is initialised. A value that is not a decimal number is logged
 * at {@code ERROR}, and every pass that global tracking would time fails with an {@link
 * IllegalStateException} naming the setting and the value, as does {@link
 * BatchSizeTracker#global()}; reading contexts and explicitly built trackers keep working. {@link
 * BatchSizeTracker#global()} returns the global tracker.
 */
package io.github.forwardcontext;
