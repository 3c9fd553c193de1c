package io.github.forwardcontext.batching;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * Captures what the batcher logs through System.Logger (routed to java.util.logging in the tests),
 * and keeps the expected failures out of the build output.
 */
final class BatcherLog extends Handler implements AutoCloseable {
  private final Logger logger = Logger.getLogger(DynamicBatcher.class.getName());
  private final Level previousLevel = logger.getLevel();
  final List<LogRecord> records = new CopyOnWriteArrayList<>();

  BatcherLog() {
    setLevel(Level.ALL);
    logger.setLevel(Level.ALL);
    logger.setUseParentHandlers(false);
    logger.addHandler(this);
  }

  List<LogRecord> at(Level level) {
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
    logger.setUseParentHandlers(true);
  }
}
