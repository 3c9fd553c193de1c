package io.github.forwardcontext;

import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.config.MeterFilter;
import io.micrometer.core.instrument.distribution.DistributionStatisticConfig;
import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * Histogram buckets for the {@value BatchSizeTracker#METER_NAME} timers, so that latency quantiles
 * per batch size can be aggregated across a fleet of processes.
 *
 * <p>Unless otherwise specified, passing {@code null} to a method of this class throws {@link
 * NullPointerException}.
 *
 * <h2>Why buckets</h2>
 *
 * A process's median cannot be averaged with another's, but bucket counts can be added: a server
 * such as Prometheus sums the {@code le} buckets of every process and estimates any quantile of the
 * pooled distribution, for instance with {@code histogram_quantile(0.99, sum by (le, batch_size)
 * (rate(forward_pass_seconds_bucket[1m])))}. The buckets are published as Micrometer service level
 * objectives, which every registry exports as classic cumulative buckets (Prometheus {@code
 * _bucket} series, OTLP explicit-bucket histograms); they are not Micrometer's percentile
 * histogram, which would be about 70 buckets per batch size.
 *
 * <h2>Turning them on</h2>
 *
 * A library leaves histograms off; the application turns them on, with the tracker's builder
 * ({@link BatchSizeTracker.Builder#publishHistogram()}) or, when no tracker is built by the
 * application (global tracking), with {@link #filter()} on the registry. The filter does not lower
 * the tracker's cap: with the global tracker's cap of 1024 and the default buckets, up to {@code
 * 1025 * 23 = 23,575} series.
 *
 * {@snippet class="io.github.forwardcontext.snippets.FleetHistogramsSnippets" region="publish"}
 *
 * <h2>The number of series</h2>
 *
 * Each tag value of {@value BatchSizeTracker#BATCH_SIZE_TAG} is one timer, exported as {@code
 * count}, {@code sum} and {@code max} (3 series in Prometheus) and, with a histogram, one series
 * per bucket bound plus {@code +Inf}. At most {@code maxBatchSizes} sizes and {@value
 * BatchSizeTracker#OTHER_TAG} get a tag, so a tracker creates at most
 *
 * <pre>{@code (maxBatchSizes + 1) * 3}                 series without a histogram
 * {@code (maxBatchSizes + 1) * (buckets + 4)}       series with one</pre>
 *
 * For example, the default cap of 1024 gives {@code 1025 * 3 = 3,075} series; {@code
 * publishHistogram()} lowers the default cap to 256 and has 19 bounds, so {@code 257 * (19 + 4) =
 * 5,911} series. An explicit {@code maxBatchSizes(1024)} with the default buckets would allow
 * {@code 1025 * 23 = 23,575}. {@link BatchSizeTracker.Builder#batchSizeBins(int...)} bounds the
 * tags by the bins instead: at most {@code (bins + 1) * (buckets + 4)} series, for example {@code
 * (10 + 1) * 23 = 253} with the bins 1, 2, 4, ..., 512 and the default buckets, however many sizes
 * there are. Each tracker of a service (one per stage) adds its own.
 *
 * <h2>The default buckets</h2>
 *
 * {@link #defaultBuckets()}: a 1-2-5 series from 0.5 ms to 200 s, then 5 minutes; 19 bounds, plus
 * the {@code +Inf} bucket every registry adds. A quantile estimated from them is exact to the
 * bucket: within a factor of 2.5 at worst.
 */
public final class ForwardPassHistograms {

  private static final List<Duration> DEFAULT_BUCKETS =
      List.of(
          Duration.ofNanos(500_000),
          Duration.ofMillis(1),
          Duration.ofMillis(2),
          Duration.ofMillis(5),
          Duration.ofMillis(10),
          Duration.ofMillis(20),
          Duration.ofMillis(50),
          Duration.ofMillis(100),
          Duration.ofMillis(200),
          Duration.ofMillis(500),
          Duration.ofSeconds(1),
          Duration.ofSeconds(2),
          Duration.ofSeconds(5),
          Duration.ofSeconds(10),
          Duration.ofSeconds(20),
          Duration.ofSeconds(50),
          Duration.ofSeconds(100),
          Duration.ofSeconds(200),
          Duration.ofMinutes(5));

  /** The largest bucket bound: {@code Long.MAX_VALUE} nanoseconds, about 292 years. */
  static final Duration MAX_BOUND = Duration.ofNanos(Long.MAX_VALUE);

  private ForwardPassHistograms() {}

  /**
   * {@return the default bucket bounds, in increasing order} A 1-2-5 series from 0.5 ms to 200 s,
   * then 5 minutes: 19 bounds.
   */
  public static List<Duration> defaultBuckets() {
    return DEFAULT_BUCKETS;
  }

  /**
   * {@return a filter that gives every {@value BatchSizeTracker#METER_NAME} timer the {@linkplain
   * #defaultBuckets() default buckets}} Other meters are left unchanged. Add it to the registry
   * before the first pass is timed: {@code registry.config().meterFilter(ForwardPassHistograms
   * .filter())}. A tracker does not see the filter, so its cap on batch sizes stays 1024 unless
   * set: up to {@code 1025 * 23 = 23,575} series. A tracker built with {@link
   * BatchSizeTracker.Builder#publishHistogram()} lowers the default cap to 256 instead.
   */
  public static MeterFilter filter() {
    return new BucketFilter(sloNanos(DEFAULT_BUCKETS));
  }

  /**
   * {@return a filter that gives every {@value BatchSizeTracker#METER_NAME} timer these buckets}
   * Other meters are left unchanged.
   *
   * @param buckets the bucket bounds: positive and strictly increasing
   * @throws IllegalArgumentException if {@code buckets} is empty, or a bound is not positive, not
   *     greater than the one before it, or greater than {@code Long.MAX_VALUE} nanoseconds
   */
  public static MeterFilter filter(Duration... buckets) {
    return new BucketFilter(sloNanos(validated(buckets)));
  }

  /**
   * The bounds, checked: at least one, each positive and greater than the one before.
   *
   * @throws IllegalArgumentException if they are not
   */
  static List<Duration> validated(Duration... buckets) {
    Objects.requireNonNull(buckets, "buckets");
    if (buckets.length == 0) {
      throw new IllegalArgumentException("buckets must hold at least one bound but was empty");
    }
    for (int i = 0; i < buckets.length; i++) {
      Duration bound = Objects.requireNonNull(buckets[i], "buckets[" + i + "]");
      if (bound.isNegative() || bound.isZero()) {
        throw new IllegalArgumentException("buckets[" + i + "] must be positive but was " + bound);
      }
      if (bound.compareTo(MAX_BOUND) > 0) {
        throw new IllegalArgumentException(
            "buckets["
                + i
                + "] must be at most "
                + MAX_BOUND
                + " (Long.MAX_VALUE nanoseconds, the largest bound a Micrometer timer can hold)"
                + " but was "
                + bound);
      }
      if (i > 0 && bound.compareTo(buckets[i - 1]) <= 0) {
        throw new IllegalArgumentException(
            "buckets must be strictly increasing but buckets["
                + i
                + "] was "
                + bound
                + " after "
                + buckets[i - 1]);
      }
    }
    return List.of(buckets);
  }

  /** The bounds in nanoseconds, the unit of Micrometer's timer objectives. */
  static double[] sloNanos(List<Duration> buckets) {
    double[] nanos = new double[buckets.size()];
    for (int i = 0; i < nanos.length; i++) {
      nanos[i] = buckets.get(i).toNanos();
    }
    return nanos;
  }

  private static final class BucketFilter implements MeterFilter {
    private final double[] sloNanos;

    BucketFilter(double[] sloNanos) {
      this.sloNanos = sloNanos;
    }

    @Override
    public DistributionStatisticConfig configure(Meter.Id id, DistributionStatisticConfig config) {
      if (id.getType() != Meter.Type.TIMER || !id.getName().equals(BatchSizeTracker.METER_NAME)) {
        return config;
      }
      return DistributionStatisticConfig.builder()
          .serviceLevelObjectives(sloNanos)
          .build()
          .merge(config);
    }
  }
}
