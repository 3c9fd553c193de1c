package io.github.forwardcontext;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import io.micrometer.core.instrument.config.NamingConvention;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;

/**
 * Claims where registries meet (composites, naming conventions), keys a registry exports as the
 * batch size, and close() racing with registrations and rebuilds.
 */
class BatchSizeTrackerRegistriesTest {
  private final PrometheusMeterRegistry prometheus =
      new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);

  @Test
  void aCompositeAndAMemberOfItMeetInTheClaims() {
    CompositeMeterRegistry composite = new CompositeMeterRegistry();
    composite.add(prometheus);
    BatchSizeTracker.builder(composite).tags("stage", "encode").build();

    assertThatThrownBy(
            () ->
                BatchSizeTracker.builder(prometheus)
                    .tags("stage", "denoise")
                    .publishHistogram()
                    .build())
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("publishHistogram()")
        .hasMessageContaining("PrometheusMeterRegistry");
    assertThatThrownBy(() -> BatchSizeTracker.builder(prometheus).tags("stage", "encode").build())
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("forward.pass{stage=encode}");
    // The other way round: a tracker on the member first, then one on the composite.
    PrometheusMeterRegistry other = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    BatchSizeTracker.builder(other).publishHistogram().build();
    CompositeMeterRegistry holding = new CompositeMeterRegistry();
    holding.add(other);
    assertThatThrownBy(() -> BatchSizeTracker.builder(holding).tags("stage", "x").build())
        .isInstanceOf(IllegalStateException.class);
  }

  @Test
  void keysThatARegistryExportsAsOneAreEqualTags() {
    BatchSizeTracker.builder(prometheus).tags("stage.name", "a").build();

    assertThatThrownBy(() -> BatchSizeTracker.builder(prometheus).tags("stage_name", "a").build())
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("would merge");
    // On a registry whose convention keeps the keys apart they are two stages.
    SimpleMeterRegistry simple = new SimpleMeterRegistry();
    simple.config().namingConvention(NamingConvention.identity);
    BatchSizeTracker.builder(simple).tags("stage.name", "a").build();
    assertThat(BatchSizeTracker.builder(simple).tags("stage_name", "a").build()).isNotNull();
  }

  @Test
  void aKeyTheRegistryExportsAsTheBatchSizeIsRefused() {
    assertThatThrownBy(() -> BatchSizeTracker.builder(prometheus).tags("batch_size", "x"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("'batch_size'")
        .hasMessageContaining("reserved key 'batch.size'");
    assertThatThrownBy(() -> BatchSizeTracker.builder(prometheus).tags("batch-size", "x"))
        .isInstanceOf(IllegalArgumentException.class);
    // A registry whose convention keeps it apart accepts it.
    SimpleMeterRegistry identity = new SimpleMeterRegistry();
    identity.config().namingConvention(NamingConvention.identity);
    assertThat(BatchSizeTracker.builder(identity).tags("batch_size", "x").build()).isNotNull();
  }

  @Test
  void aBlankTagValueIsRefused() {
    assertThatThrownBy(() -> BatchSizeTracker.builder(prometheus).tags("stage", ""))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("'stage'")
        .hasMessageContaining("blank");
  }

  @Test
  void duringCloseNoTrackerWithTheSameTagsCanBeBuiltAndAfterItOneCanWithTimersOfItsOwn() {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    BatchSizeTracker old = BatchSizeTracker.builder(registry).tags("stage", "x").build();
    old.where(0, new TestMetadata(16)).run(() -> {});
    List<Throwable> duringClose = new CopyOnWriteArrayList<>();
    registry
        .config()
        .onMeterRemoved(
            removed -> {
              try {
                BatchSizeTracker.builder(registry).tags("stage", "x").build();
              } catch (IllegalStateException e) {
                duringClose.add(e);
              }
            });

    old.close();

    assertThat(duringClose).singleElement().isInstanceOf(IllegalStateException.class);
    BatchSizeTracker rebuilt = BatchSizeTracker.builder(registry).tags("stage", "x").build();
    rebuilt.where(0, new TestMetadata(16)).run(() -> {});
    assertThat(registry.get("forward.pass").tags("stage", "x", "batch.size", "16").timer().count())
        .isEqualTo(1);
  }

  @Test
  void aTimerRegisteredWhileCloseRunsIsRemovedByIt() throws Exception {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    CountDownLatch inRegistration = new CountDownLatch(1);
    CountDownLatch release = new CountDownLatch(1);
    registry
        .config()
        .onMeterAdded(
            (Meter added) -> {
              if ("32".equals(added.getId().getTag("batch.size"))) {
                inRegistration.countDown();
                try {
                  release.await();
                } catch (InterruptedException e) {
                  Thread.currentThread().interrupt();
                }
              }
            });
    BatchSizeTracker tracker = BatchSizeTracker.builder(registry).build();
    Thread pass =
        Thread.ofVirtual().start(() -> tracker.where(0, new TestMetadata(32)).run(() -> {}));
    inRegistration.await();
    Thread closer = Thread.ofVirtual().start(tracker::close);
    // Until the registration ends, close() waits for it.
    while (closer.getState() != Thread.State.WAITING && closer.getState() != Thread.State.BLOCKED) {
      Thread.onSpinWait();
    }
    assertThat(closer.isAlive()).isTrue();
    release.countDown();
    pass.join();
    closer.join();

    assertThat(registry.find("forward.pass").timers()).isEmpty();
  }
}
