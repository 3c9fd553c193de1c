package io.github.forwardcontext;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.AfterEach;

/** Mixed into every test class: after each test, the test thread has no forward context bound. */
public interface NoContextLeftBound {

  @AfterEach
  default void noContextLeftBound() {
    assertThat(ForwardContext.isBound())
        .as("a forward context is still bound to the test thread after the test")
        .isFalse();
  }
}
