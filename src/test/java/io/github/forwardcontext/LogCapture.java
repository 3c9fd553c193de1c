package io.github.forwardcontext;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;

/**
 * Captures what the tracker logs through System.Logger, which the JDK routes to java.util.logging
 * when no other logging provider is installed.
 */
final class LogCapture extends Handler implements AutoCloseable {
  private final Logger logger = Logger.getLogger(BatchSizeTracker.class.getName());
  private final Level previousLevel = logger.getLevel();
  private final boolean previousUseParentHandlers = logger.getUseParentHandlers();
  private final List<LogRecord> records = new CopyOnWriteArrayList<>();
  private final SimpleFormatter formatter = new SimpleFormatter();

  LogCapture() {
    setLevel(Level.ALL);
    logger.setLevel(Level.ALL);
    logger.setUseParentHandlers(false); // keep expected warnings out of the build output
    logger.addHandler(this);
  }

  /** {@return the formatted messages logged at exactly this level} */
  List<String> messages(Level level) {
    return records.stream()
        .filter(r -> r.getLevel().equals(level))
        .map(formatter::formatMessage)
        .toList();
  }

  /** {@return the report lines logged so far} */
  List<String> reports() {
    return messages(Level.INFO).stream()
        .filter(m -> m.startsWith(BatchSizeTracker.REPORT_PREFIX))
        .toList();
  }

  List<LogRecord> records() {
    return records;
  }

  @Override
  public void publish(LogRecord record) {
    records.add(record);
  }

  @Override
  public void flush() {}

  @Override
  public void close() {
    logger.removeHandler(this);
    logger.setLevel(previousLevel);
    logger.setUseParentHandlers(previousUseParentHandlers);
  }
}
