package io.github.forwardcontext;

import io.github.forwardcontext.internal.FailureLog;
import io.micrometer.core.instrument.Metrics;
import java.math.BigDecimal;
import java.time.Duration;
import java.util.regex.Pattern;

/**
 * Reads the start-up setting that switches global tracking on, the seed's module flag: the system
 * property {@value #PROPERTY} or, when it is absent, the environment variable {@value #ENV}.
 */
final class GlobalTracking {
  static final String PROPERTY = "forwardcontext.log-batchsize-interval";
  static final String ENV = "FORWARDCONTEXT_LOG_BATCHSIZE_INTERVAL";

  private static final Pattern DECIMAL = Pattern.compile("[+-]?(\\d+(\\.\\d*)?|\\.\\d+)");
  private static final BigDecimal NANOS_PER_SECOND = BigDecimal.valueOf(1_000_000_000L);
  private static final BigDecimal MAX_NANOS = BigDecimal.valueOf(Long.MAX_VALUE);

  private GlobalTracking() {}

  /**
   * {@return the global tracker the setting asks for, or {@code null} if tracking is off} A
   * malformed setting does not fail here, which would leave {@code ForwardContext} unusable (a
   * class whose initialisation failed throws {@code NoClassDefFoundError} on every later use, also
   * for explicitly built trackers). It is logged once, and every pass that global tracking would
   * time fails with an {@code IllegalStateException} naming the setting and its value.
   */
  static BatchSizeTracker fromEnvironment() {
    Duration interval;
    try {
      interval = parse(System.getProperty(PROPERTY), System.getenv(ENV));
    } catch (IllegalArgumentException e) {
      FailureLog.log(
          BatchSizeTracker.LOG,
          System.Logger.Level.ERROR,
          e.getMessage() + "; globally tracked passes will fail");
      return BatchSizeTracker.misconfigured(e);
    }
    if (interval == null) {
      return null;
    }
    try {
      return BatchSizeTracker.builder(Metrics.globalRegistry).loggingInterval(interval).build();
    } catch (RuntimeException e) {
      // Another tracker claimed the global registry first (an untagged one, or one with another
      // histogram setting): like a malformed setting, this must not leave ForwardContext unusable.
      FailureLog.log(
          BatchSizeTracker.LOG,
          System.Logger.Level.ERROR,
          "Global batch-size tracking cannot start: "
              + e.getMessage()
              + "; globally tracked passes will fail");
      return BatchSizeTracker.misconfigured(e);
    }
  }

  /**
   * Parses the setting. The system property wins over the environment variable; an absent or blank
   * value is no setting.
   *
   * @return the logging interval, or {@code null} if tracking stays off (no setting, or a negative
   *     number of seconds)
   * @throws IllegalArgumentException if the value that applies is not a decimal number of seconds
   */
  static Duration parse(String propertyValue, String envValue) {
    if (propertyValue != null && !propertyValue.isBlank()) {
      return parseSeconds("system property " + PROPERTY, propertyValue);
    }
    if (envValue != null && !envValue.isBlank()) {
      return parseSeconds("environment variable " + ENV, envValue);
    }
    return null;
  }

  private static Duration parseSeconds(String setting, String raw) {
    String value = raw.strip();
    if (!DECIMAL.matcher(value).matches()) {
      throw new IllegalArgumentException(
          setting
              + " must be a decimal number of seconds (>= 0 switches batch-size tracking on, "
              + "< 0 leaves it off) but was '"
              + raw
              + "'");
    }
    BigDecimal seconds = new BigDecimal(value);
    if (seconds.signum() < 0) {
      return null;
    }
    BigDecimal nanos = seconds.multiply(NANOS_PER_SECOND);
    return Duration.ofNanos(nanos.min(MAX_NANOS).longValue());
  }
}
