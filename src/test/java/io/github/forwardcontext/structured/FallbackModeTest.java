package io.github.forwardcontext.structured;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.forwardcontext.ForwardContext;
import io.github.forwardcontext.NoContextLeftBound;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@link FanOut} in a JVM started without {@code --enable-preview}: the path every runtime takes
 * that cannot load the preview class (JDK 25 without the flag, JDK 26 and later). Run only by the
 * pom's {@code fanout-without-preview} Surefire execution.
 */
class FallbackModeTest implements NoContextLeftBound {

  private static final ScopedValue<String> REQUEST_ID = ScopedValue.newInstance();

  @Test
  void withoutThePreviewFlagTheDefaultModeIsVirtualThreadsAndTheCauseIsKept() {
    assertThat(FanOut.defaultMode()).isEqualTo(FanOut.Mode.VIRTUAL_THREADS);
    assertThat(FanOut.structuredUnavailabilityCause())
        .get()
        .isInstanceOf(UnsupportedClassVersionError.class)
        .extracting(Throwable::getMessage)
        .asString()
        .contains("StructuredScopes")
        .contains("--enable-preview");
  }

  @Test
  void demandingTheStructuredModeFailsWhenTheFanOutIsConfiguredNamingTheFlagAndTheJdk() {
    assertThatThrownBy(() -> FanOut.named("block").withMode(FanOut.Mode.STRUCTURED))
        .isInstanceOf(UnsupportedOperationException.class)
        .hasMessageContaining("'block'")
        .hasMessageContaining("--enable-preview")
        .hasMessageContaining("Java " + Runtime.version())
        .hasCause(FanOut.structuredUnavailabilityCause().orElseThrow());
  }

  @Test
  void subtasksSeeTheForwardContextAndNoOtherScopedValue() throws Exception {
    List<String> seen =
        ScopedValue.where(REQUEST_ID, "r-3")
            .call(
                () ->
                    ForwardContext.where(6, () -> 1)
                        .call(
                            () ->
                                FanOut.named("fallback")
                                    .invokeAll(
                                        2,
                                        i ->
                                            ForwardContext.current().currentTimestep()
                                                + ":"
                                                + REQUEST_ID.orElse("unbound"))));

    assertThat(seen).containsExactly("6:unbound", "6:unbound");
  }
}
