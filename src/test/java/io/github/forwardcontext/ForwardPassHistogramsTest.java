package io.github.forwardcontext;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.tuple;

import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.distribution.CountAtBucket;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

class ForwardPassHistogramsTest implements NoContextLeftBound {
  private static final Pattern LE = Pattern.compile("le=\"([^\"]+)\"");

  private final FakeClock clock = new FakeClock();

  @Test
  void histogramsAreOffByDefault() {
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    pass(BatchSizeTracker.builder(registry).clock(clock).build(), 4, 3);

    assertThat(registry.scrape()).contains("forward_pass_seconds_count").doesNotContain("_bucket");
  }

  @Test
  void publishHistogramExportsTheDefaultBoundsAndInfAsPrometheusBuckets() {
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    pass(BatchSizeTracker.builder(registry).clock(clock).publishHistogram().build(), 4, 3);

    List<String> bounds =
        ForwardPassHistograms.defaultBuckets().stream()
            .map(d -> Double.toString(d.toNanos() / 1e9))
            .toList();
    assertThat(les(registry.scrape()))
        .containsExactlyElementsOf(Stream.concat(bounds.stream(), Stream.of("+Inf")).toList());
  }

  @Test
  void theBucketsCountThePassesAtOrBelowEachBound() {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    BatchSizeTracker tracker =
        BatchSizeTracker.builder(registry)
            .clock(clock)
            .histogramBuckets(Duration.ofMillis(5), Duration.ofMillis(50))
            .build();
    pass(tracker, 2, 3);
    pass(tracker, 2, 5);
    pass(tracker, 2, 40);

    CountAtBucket[] counts =
        registry
            .get("forward.pass")
            .tag("batch.size", "2")
            .timer()
            .takeSnapshot()
            .histogramCounts();
    assertThat(counts).hasSize(2);
    assertThat(counts[0].bucket(TimeUnit.MILLISECONDS)).isEqualTo(5);
    assertThat(counts[0].count()).isEqualTo(2);
    assertThat(counts[1].bucket(TimeUnit.MILLISECONDS)).isEqualTo(50);
    assertThat(counts[1].count()).isEqualTo(3);
  }

  @Test
  void publishHistogramLowersTheDefaultCapTo256() {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    BatchSizeTracker tracker =
        BatchSizeTracker.builder(registry).clock(clock).publishHistogram().build();
    for (int size = 0; size < 300; size++) {
      pass(tracker, size, 1);
    }

    assertThat(registry.get("forward.pass").timers()).hasSize(257);
    assertThat(registry.get("forward.pass").tag("batch.size", "other").timer().count())
        .isEqualTo(300 - 256);
  }

  @Test
  void anExplicitCapIsKeptWhenAHistogramIsPublished() {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    BatchSizeTracker tracker =
        BatchSizeTracker.builder(registry)
            .clock(clock)
            .maxBatchSizes(300)
            .publishHistogram()
            .build();
    for (int size = 0; size < 300; size++) {
      pass(tracker, size, 1);
    }

    assertThat(registry.get("forward.pass").timers()).hasSize(300);
  }

  @Test
  void theSeriesOfOneTrackerReachButNeverExceedTheDocumentedBound() {
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    BatchSizeTracker tracker =
        BatchSizeTracker.builder(registry).clock(clock).publishHistogram().build();
    for (int size = 0; size < 2000; size++) {
      pass(tracker, size, 1);
    }

    long series = registry.scrape().lines().filter(line -> line.startsWith("forward_pass")).count();
    // The javadoc's worked example: (256 + 1) x (19 + 4) = 5,911.
    assertThat(series).isEqualTo(5_911);
  }

  @Test
  void bucketBoundsMustBePositiveAndStrictlyIncreasing() {
    BatchSizeTracker.Builder builder = BatchSizeTracker.builder(new SimpleMeterRegistry());

    assertThatThrownBy(builder::histogramBuckets)
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("buckets must hold at least one bound but was empty");
    assertThatThrownBy(() -> builder.histogramBuckets(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("buckets[0] must be positive but was PT0S");
    assertThatThrownBy(() -> builder.histogramBuckets(Duration.ofMillis(2), Duration.ofMillis(2)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage(
            "buckets must be strictly increasing but buckets[1] was PT0.002S after PT0.002S");
    assertThatThrownBy(() -> builder.histogramBuckets(Duration.ofMillis(1), null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("buckets[1]");
  }

  @Test
  void theFilterGivesBucketsToForwardPassTimersOnly() {
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    registry.config().meterFilter(ForwardPassHistograms.filter(Duration.ofMillis(10)));
    pass(BatchSizeTracker.builder(registry).clock(clock).build(), 1, 3);
    Timer.builder("other.work").register(registry).record(3, TimeUnit.MILLISECONDS);

    String scrape = registry.scrape();
    assertThat(les(scrape)).containsExactly("0.01", "+Inf");
    assertThat(scrape)
        .contains("other_work_seconds_count")
        .doesNotContain("other_work_seconds_bucket");
  }

  @Test
  void theDefaultBucketsAreA125SeriesFromHalfAMillisecondToFiveMinutes() {
    List<Duration> buckets = ForwardPassHistograms.defaultBuckets();

    assertThat(buckets).hasSize(19).isSorted();
    assertThat(buckets.getFirst()).isEqualTo(Duration.ofNanos(500_000));
    assertThat(buckets.getLast()).isEqualTo(Duration.ofMinutes(5));
    assertThat(Arrays.stream(ForwardPassHistograms.sloNanos(buckets)).distinct().count())
        .isEqualTo(19);
  }

  @Test
  void binnedSizesShareTheTimerOfTheirBinAndKeepTheirExactStats() {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    BatchSizeTracker tracker =
        BatchSizeTracker.builder(registry).clock(clock).batchSizeBins(4, 8).build();
    for (int size : new int[] {3, 4, 5, 5, 8, 9, 9}) {
      pass(tracker, size, size);
    }

    assertThat(registry.get("forward.pass").tag("batch.size", "4").timer().count()).isEqualTo(2);
    assertThat(registry.get("forward.pass").tag("batch.size", "8").timer().count()).isEqualTo(3);
    assertThat(registry.get("forward.pass").tag("batch.size", "other").timer().count())
        .isEqualTo(2);
    assertThat(registry.get("forward.pass").timers()).hasSize(3);
    assertThat(tracker.stats())
        .extracting(BatchSizeStats::batchSize, BatchSizeStats::count)
        .containsExactly(tuple(5, 2L), tuple(9, 2L));
  }

  @Test
  void binsBoundTheSeriesWhateverTheNumberOfSizes() {
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    BatchSizeTracker tracker =
        BatchSizeTracker.builder(registry)
            .clock(clock)
            .publishHistogram()
            .batchSizeBins(1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
            .maxBatchSizes(1000) // every bin and other get passes
            .build();
    for (int size = 0; size < 1000; size++) {
      pass(tracker, size, 1);
    }

    long series = registry.scrape().lines().filter(line -> line.startsWith("forward_pass")).count();
    // The javadoc's worked example: (10 + 1) x (19 + 4) = 253.
    assertThat(series).isEqualTo(253);
  }

  @Test
  void pastTheCapSizesKeepTheirBinTagAndMeetInTheReportsOtherRow() {
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    BatchSizeTracker tracker =
        BatchSizeTracker.builder(registry)
            .clock(clock)
            .publishHistogram() // default cap: 256 exact sizes
            .batchSizeBins(1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
            .build();
    for (int size = 1; size <= 400; size++) {
      pass(tracker, size, 1);
      pass(tracker, size, 1);
    }
    pass(tracker, 600, 1); // beyond the largest bin, beyond the cap
    pass(tracker, 600, 1);

    // 257..400 are beyond the cap of exact sizes but within bin 512: tagged 512, not other.
    assertThat(count(registry, "512")).isEqualTo(2 * (400 - 256));
    assertThat(count(registry, "256")).isEqualTo(2 * (256 - 128));
    assertThat(count(registry, "other")).isEqualTo(2);
    List<BatchSizeStats> rows = tracker.stats();
    assertThat(rows).hasSize(256 + 1);
    assertThat(rows)
        .filteredOn(BatchSizeStats::isOther)
        .singleElement()
        .extracting(BatchSizeStats::count)
        .isEqualTo(2L * (400 - 256) + 2);
    assertThat(rows.stream().mapToLong(BatchSizeStats::count).sum()).isEqualTo(2L * 400 + 2);
  }

  private static long count(PrometheusMeterRegistry registry, String tag) {
    Timer timer = registry.find("forward.pass").tag("batch.size", tag).timer();
    return timer == null ? 0 : timer.count();
  }

  @Test
  void binsMustBeNotNegativeAndStrictlyIncreasing() {
    BatchSizeTracker.Builder builder = BatchSizeTracker.builder(new SimpleMeterRegistry());

    assertThatThrownBy(builder::batchSizeBins)
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("bins must hold at least one bin but was empty");
    assertThatThrownBy(() -> builder.batchSizeBins(-1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("bins[0] must be >= 0 but was -1");
    assertThatThrownBy(() -> builder.batchSizeBins(4, 2))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("bins must be strictly increasing but bins[1] was 2 after 4");
  }

  private void pass(BatchSizeTracker tracker, int batchSize, double millis) {
    tracker.where(0, new TestMetadata(batchSize)).run(() -> clock.advanceMillis(millis));
  }

  /** The le values of the forward_pass buckets in a scrape, in order. */
  private static List<String> les(String scrape) {
    return scrape
        .lines()
        .filter(line -> line.startsWith("forward_pass_seconds_bucket"))
        .map(
            line -> {
              Matcher le = LE.matcher(line);
              return le.find() ? le.group(1) : "?";
            })
        .toList();
  }
}
