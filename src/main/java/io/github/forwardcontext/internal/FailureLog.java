package io.github.forwardcontext.internal;

import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Logs the failures of one kind of the library's own machinery (a clock, a meter, a hook): the
 * first at {@code WARNING}, with a note that later ones follow at {@code DEBUG}, and the later ones
 * at {@code DEBUG}. It is the one place where the library logs a failure it absorbs, so that every
 * component follows the same rule.
 *
 * <p>Logging never throws: a logging backend that fails is ignored, since logging a failure must
 * not become one. The one exception is a {@link VirtualMachineError} raised by the backend itself,
 * which propagates. Whether the failure being logged propagates is the caller's decision; {@link
 * #rethrowIfFatal(Throwable)} is the rule the library applies everywhere: a {@link
 * VirtualMachineError} is never absorbed.
 *
 * <p>Instances are thread-safe; exactly one thread logs the first failure at {@code WARNING}.
 */
public final class FailureLog {
  private final System.Logger logger;
  private final String message;
  private final AtomicBoolean warned = new AtomicBoolean();

  /**
   * Creates a log for one kind of failure.
   *
   * @param logger the logger to log through
   * @param message what failed and what happens instead, for example {@code "Forward-pass clock
   *     failed; the forward pass goes on"}
   */
  public FailureLog(System.Logger logger, String message) {
    this.logger = Objects.requireNonNull(logger, "logger");
    this.message = Objects.requireNonNull(message, "message");
  }

  /**
   * Logs {@code failure} with this log's message: at {@code WARNING} the first time, at {@code
   * DEBUG} after that.
   *
   * @param failure the failure
   */
  public void log(Throwable failure) {
    log(message, failure);
  }

  /**
   * Logs {@code failure} with a message of its own: at {@code WARNING} if it is this log's first,
   * at {@code DEBUG} otherwise.
   *
   * @param detail the message
   * @param failure the failure
   */
  public void log(String detail, Throwable failure) {
    boolean first = !warned.get() && warned.compareAndSet(false, true);
    log(
        first,
        first ? detail + ". Further failures of this kind are logged at DEBUG." : detail,
        failure);
  }

  /**
   * Logs at {@code WARNING} if {@code warn}, else at {@code DEBUG}, for callers that keep their own
   * notion of "first" (one per meter tag, say).
   *
   * @param logger the logger
   * @param warn whether to log at {@code WARNING}
   * @param message the message
   * @param failure the failure, or {@code null}
   */
  public static void log(System.Logger logger, boolean warn, String message, Throwable failure) {
    try {
      System.Logger.Level level = warn ? System.Logger.Level.WARNING : System.Logger.Level.DEBUG;
      if (failure == null) {
        logger.log(level, message);
      } else {
        logger.log(level, message, failure);
      }
    } catch (VirtualMachineError fatal) {
      throw fatal;
    } catch (Throwable ignored) {
      // The logging backend failed too; what logged goes on regardless.
    }
  }

  private void log(boolean warn, String detail, Throwable failure) {
    log(logger, warn, detail, failure);
  }

  /**
   * Logs {@code message} at {@code level}, and never throws but a {@link VirtualMachineError}.
   *
   * @param logger the logger
   * @param level the level
   * @param message the message
   */
  public static void log(System.Logger logger, System.Logger.Level level, String message) {
    try {
      logger.log(level, message);
    } catch (VirtualMachineError fatal) {
      throw fatal;
    } catch (Throwable ignored) {
      // A logging backend that throws must not break what logs.
    }
  }

  /**
   * Throws {@code failure} if it is a {@link VirtualMachineError}, which the library never absorbs;
   * returns otherwise.
   *
   * @param failure the failure
   */
  public static void rethrowIfFatal(Throwable failure) {
    if (failure instanceof VirtualMachineError fatal) {
      throw fatal;
    }
  }
}
