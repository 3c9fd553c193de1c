package io.github.forwardcontext;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;

/**
 * Captures what a component logs through System.Logger, which the JDK routes to java.util.logging
 * when no other logging provider is installed, and keeps the expected failures out of the build
 * output: the tests' one log capture.
 */
public final class LogCapture extends Handler implements AutoCloseable {
  private final Logger logger;
  private final Level previousLevel;
  private final boolean previousUseParentHandlers;
  private final List<LogRecord> records = new CopyOnWriteArrayList<>();
  private final SimpleFormatter formatter = new SimpleFormatter();

  /** Captures what the tracker logs. */
  LogCapture() {
    this(BatchSizeTracker.class.getName());
  }

  /**
   * Captures what the logger of this name logs.
   *
   * @param loggerName the logger's name, such as {@code DynamicBatcher.class.getName()}
   */
  public LogCapture(String loggerName) {
    logger = Logger.getLogger(loggerName);
    previousLevel = logger.getLevel();
    previousUseParentHandlers = logger.getUseParentHandlers();
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

  /** {@return every record captured so far} */
  public List<LogRecord> records() {
    return records;
  }

  /**
   * {@return the records logged at exactly this level}
   *
   * @param level the level
   */
  public List<LogRecord> at(Level level) {
    return records.stream().filter(r -> r.getLevel().equals(level)).toList();
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
