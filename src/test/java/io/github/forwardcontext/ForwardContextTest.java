package io.github.forwardcontext;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;

class ForwardContextTest implements NoContextLeftBound {

  private static final TestMetadata META = new TestMetadata(8);
  private static final TestBatch BATCH = new TestBatch("req-1");

  @Test
  void currentFailsWithAMessageThatSaysHowToBindWhenNothingIsBound() {
    assertThatThrownBy(ForwardContext::current)
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("Forward context is not set")
        .hasMessageContaining("ForwardContext.where(")
        .hasMessageContaining(".run(");
  }

  @Test
  void nonThrowingReadsAnswerWhenNothingIsBound() {
    ForwardContext fallback = new ForwardContext(-1, null, null);

    assertThat(ForwardContext.isBound()).isFalse();
    assertThat(ForwardContext.find()).isEmpty();
    assertThat(ForwardContext.orElse(fallback)).isSameAs(fallback);
    assertThat(ForwardContext.orElse(null)).isNull();
  }

  @Test
  void readsSeeTheBoundContextAtAnyDepth() {
    ForwardContext seen = ForwardContext.where(7, META, BATCH).call(() -> deepRead(20));

    assertThat(seen).isEqualTo(new ForwardContext(7, META, BATCH));
  }

  private static ForwardContext deepRead(int depth) {
    return depth == 0 ? ForwardContext.current() : deepRead(depth - 1);
  }

  @Test
  void nonThrowingReadsAnswerWhenBound() {
    ForwardContext.where(3, META)
        .run(
            () -> {
              ForwardContext bound = ForwardContext.current();
              assertThat(ForwardContext.isBound()).isTrue();
              assertThat(ForwardContext.find()).containsSame(bound);
              assertThat(ForwardContext.orElse(new ForwardContext(0, null, null))).isSameAs(bound);
              assertThat(bound.forwardBatch()).isNull();
            });
  }

  @Test
  void nestedBindingShadowsTheOuterOneAndRestoresItAfterwards() {
    List<Integer> timesteps = new ArrayList<>();

    ForwardContext.where(1, META, BATCH)
        .run(
            () -> {
              timesteps.add(ForwardContext.current().currentTimestep());
              ForwardContext.where(2, null)
                  .run(() -> timesteps.add(ForwardContext.current().currentTimestep()));
              timesteps.add(ForwardContext.current().currentTimestep());
              assertThat(ForwardContext.current().forwardBatch()).isSameAs(BATCH);
            });

    assertThat(timesteps).containsExactly(1, 2, 1);
  }

  @Test
  void partialOverrideKeepsTheOuterTimestepAndBatchAndSwapsTheMetadata() {
    TestMetadata inner = new TestMetadata(16, "cross-attention");

    ForwardContext.where(5, META, BATCH)
        .run(
            () -> {
              ForwardContext seen =
                  ForwardContext.whereAttnMetadata(inner).call(ForwardContext::current);
              assertThat(seen).isEqualTo(new ForwardContext(5, inner, BATCH));
              assertThat(ForwardContext.current().attnMetadata()).isSameAs(META);
            });
  }

  @Test
  void partialOverrideFailsWhenNothingIsBound() {
    assertThatThrownBy(() -> ForwardContext.whereAttnMetadata(META))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("Forward context is not set");
  }

  @Test
  void checkedExceptionThroughCallPropagatesAsTheSameInstanceAndRestoresTheOuterContext() {
    IOException failure = new IOException("weights missing");

    ForwardContext.where(1, META)
        .run(
            () -> {
              ForwardContext outer = ForwardContext.current();
              assertThatThrownBy(
                      () ->
                          ForwardContext.where(2, null)
                              .call(
                                  () -> {
                                    throw failure;
                                  }))
                  .isSameAs(failure);
              assertThat(ForwardContext.current()).isSameAs(outer);
            });
  }

  @Test
  void uncheckedExceptionThroughRunPropagatesAsTheSameInstanceAndRestoresTheOuterContext() {
    IllegalStateException failure = new IllegalStateException("NaN in latents");

    ForwardContext.where(1, META)
        .run(
            () -> {
              ForwardContext outer = ForwardContext.current();
              assertThatThrownBy(
                      () ->
                          ForwardContext.where(2, null)
                              .run(
                                  () -> {
                                    throw failure;
                                  }))
                  .isSameAs(failure);
              assertThat(ForwardContext.current()).isSameAs(outer);
            });
  }

  @Test
  void typedAccessorsReturnTheBackendTypes() {
    ForwardContext context = new ForwardContext(0, META, BATCH);

    assertThat(context.attnMetadata(TestMetadata.class)).isSameAs(META);
    assertThat(context.forwardBatch(TestBatch.class)).isSameAs(BATCH);
  }

  @Test
  void typedAccessorFailsNamingTheExpectedAndTheActualType() {
    ForwardContext context = new ForwardContext(0, () -> 4, BATCH);

    assertThatThrownBy(() -> context.attnMetadata(TestMetadata.class))
        .isInstanceOf(ClassCastException.class)
        .hasMessageContaining(TestMetadata.class.getName())
        .hasMessageContaining(context.attnMetadata().getClass().getName());
  }

  @Test
  void typedAccessorFailsWhenTheValueIsAbsent() {
    ForwardContext context = new ForwardContext(9, null, null);

    assertThatThrownBy(() -> context.forwardBatch(TestBatch.class))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("no forward batch")
        .hasMessageContaining(TestBatch.class.getName());
  }

  @Test
  void nullOperationsAreRejectedByName() {
    ForwardContext context = ForwardContext.where(0, null);

    assertThatThrownBy(() -> context.run(null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("op");
    assertThatThrownBy(() -> context.call(null))
        .isInstanceOf(NullPointerException.class)
        .hasMessage("op");
  }

  @Test
  void globalTrackingIsOffByDefault() {
    assertThat(BatchSizeTracker.global()).isEmpty();
  }

  @Test
  void aContextBindsItselfAndCanBeBoundAgainWithOtherMetadata() {
    ForwardContext context = new ForwardContext(3, META, BATCH);
    TestMetadata other = new TestMetadata(2);

    ForwardContext inner =
        context.call(
            () -> ForwardContext.current().withAttnMetadata(other).call(ForwardContext::current));

    assertThat(inner).isEqualTo(new ForwardContext(3, other, BATCH));
  }

  @Test
  void tenThousandVirtualThreadsBindingDifferentContextsAtOnceEachSeeOnlyTheirOwn()
      throws InterruptedException {
    int threads = 10_000;
    CountDownLatch allBound = new CountDownLatch(threads);
    ConcurrentLinkedQueue<String> mismatches = new ConcurrentLinkedQueue<>();
    List<Thread> started = new ArrayList<>(threads);

    for (int i = 0; i < threads; i++) {
      int id = i;
      TestBatch batch = new TestBatch("req-" + id);
      started.add(
          Thread.ofVirtual()
              .start(
                  () ->
                      ForwardContext.where(id, new TestMetadata(id % 64), batch)
                          .run(
                              () -> {
                                allBound.countDown();
                                try {
                                  allBound.await(); // every thread is inside its binding now
                                } catch (InterruptedException e) {
                                  Thread.currentThread().interrupt();
                                  mismatches.add(id + ": interrupted");
                                  return;
                                }
                                ForwardContext seen = ForwardContext.current();
                                if (seen.currentTimestep() != id
                                    || seen.forwardBatch() != batch
                                    || seen.attnMetadata().batchSize() != id % 64) {
                                  mismatches.add(id + " saw " + seen);
                                }
                              })));
    }
    for (Thread thread : started) {
      thread.join();
    }

    assertThat(allBound.getCount()).isZero();
    assertThat(mismatches).isEmpty();
  }
}
