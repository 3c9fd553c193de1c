package io.github.forwardcontext;

import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.config.MeterFilter;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * Meter filters that throw while a meter is registered: the shared fixture for tests of "a failure
 * in the metrics never breaks a pass or a batch". Install one with {@code
 * registry.config().meterFilter(..)}; it throws from {@link MeterFilter#map(Meter.Id)}, which
 * Micrometer calls for every registration (and every lookup of an existing meter).
 */
public final class ThrowingMeterFilters {
  private ThrowingMeterFilters() {}

  /**
   * {@return a filter that throws the supplied failure for every meter that {@code when} accepts,
   * and passes the others through} The failure may be any unchecked exception or {@link Error}.
   *
   * @param when which meters fail
   * @param failure what to throw, created anew for each failing registration
   */
  public static MeterFilter throwing(
      Predicate<Meter.Id> when, Supplier<? extends Throwable> failure) {
    return new MeterFilter() {
      @Override
      public Meter.Id map(Meter.Id id) {
        if (when.test(id)) {
          throw ThrowingMeterFilters.<RuntimeException>sneaky(failure.get());
        }
        return id;
      }
    };
  }

  /**
   * {@return a filter that throws for every meter named {@code meterName}}
   *
   * @param meterName the name of the meters that fail
   * @param failure what to throw
   */
  public static MeterFilter always(String meterName, Supplier<? extends Throwable> failure) {
    return throwing(id -> id.getName().equals(meterName), failure);
  }

  /**
   * {@return a filter that throws for the first {@code times} registrations of meters named {@code
   * meterName}, and then lets them pass}
   *
   * @param meterName the name of the meters that fail
   * @param times how many registrations fail
   * @param failure what to throw
   */
  public static MeterFilter times(
      String meterName, int times, Supplier<? extends Throwable> failure) {
    AtomicInteger left = new AtomicInteger(times);
    return throwing(id -> id.getName().equals(meterName) && left.getAndDecrement() > 0, failure);
  }

  /**
   * {@return a filter that throws for the first registration of a meter named {@code meterName}
   * only}
   *
   * @param meterName the name of the meter that fails once
   * @param failure what to throw
   */
  public static MeterFilter once(String meterName, Supplier<? extends Throwable> failure) {
    return times(meterName, 1, failure);
  }

  @SuppressWarnings("unchecked")
  private static <T extends Throwable> T sneaky(Throwable t) throws T {
    throw (T) t;
  }
}
