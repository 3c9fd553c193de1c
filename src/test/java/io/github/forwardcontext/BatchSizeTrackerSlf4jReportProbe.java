package io.github.forwardcontext;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.AppenderBase;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * Run by {@link BatchSizeTrackerSlf4jReportTest} with the System.Logger-to-SLF4J bridge on the
 * class path.
 */
final class BatchSizeTrackerSlf4jReportProbe {
  private static volatile String PASS_THREAD;

  private BatchSizeTrackerSlf4jReportProbe() {}

  public static void main(String[] args) throws InterruptedException {
    CountDownLatch reported = new CountDownLatch(1);
    Logger root = (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
    root.detachAndStopAllAppenders();
    root.setLevel(Level.INFO);
    AppenderBase<ILoggingEvent> printer =
        new AppenderBase<>() {
          @Override
          protected void append(ILoggingEvent event) {
            System.out.println(
                "logback "
                    + event.getLevel()
                    + " "
                    + event.getLoggerName()
                    + " "
                    + event.getFormattedMessage());
            System.out.println(
                "report-thread "
                    + event.getThreadName()
                    + " mdc="
                    + event.getMDCPropertyMap()
                    + " pass-thread "
                    + PASS_THREAD);
            reported.countDown();
          }
        };
    printer.setContext(root.getLoggerContext());
    printer.start();
    root.addAppender(printer);

    FakeClock clock = new FakeClock();
    BatchSizeTracker tracker =
        BatchSizeTracker.builder(new SimpleMeterRegistry())
            .clock(clock)
            .loggingInterval(Duration.ofSeconds(10))
            .build();
    for (int i = 0; i < 2; i++) {
      tracker.where(i, new TestMetadata(8)).run(() -> clock.advanceMillis(4));
    }
    clock.advance(Duration.ofSeconds(11));
    MDC.put("req", "req-0-4"); // the request whose pass crosses the interval
    PASS_THREAD = Thread.currentThread().getName();
    tracker.where(2, new TestMetadata(8)).run(() -> {}); // due: the report counts all three
    MDC.remove("req");
    // The report runs on a thread of its own; wait for it, bounded.
    if (!reported.await(30, TimeUnit.SECONDS)) {
      System.out.println("no report within 30 s");
    }
  }
}
