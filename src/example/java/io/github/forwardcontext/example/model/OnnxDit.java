package io.github.forwardcontext.example.model;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The transformer on ONNX Runtime: one session per block and one for the decoder, each built from
 * its graph at start-up. A whole batch of samples at different timesteps is one {@code run} per
 * block; a block's output tensor is the next block's input, without a copy through Java.
 */
final class OnnxDit extends Dit {
  private final OrtEnvironment env = OrtEnvironment.getEnvironment();
  private final OrtSession[] blocks;
  private final OrtSession decoder;
  // The mask of each (tokens, window): immutable inputs, shared by concurrent runs.
  private final Map<Long, OnnxTensor> masks = new ConcurrentHashMap<>();

  OnnxDit(DitConfig config, int threads) {
    super(config);
    try (OrtSession.SessionOptions options = sessionOptions(threads)) {
      blocks = new OrtSession[config.layers()];
      for (int layer = 0; layer < blocks.length; layer++) {
        blocks[layer] = env.createSession(DitGraphs.block(weights, layer), options);
      }
      decoder = env.createSession(DitGraphs.decoder(weights), options);
    } catch (OrtException e) {
      throw new IllegalStateException("ONNX Runtime could not load the transformer's graphs", e);
    }
  }

  /**
   * One intra-op thread by default, spinning off: the parallelism comes from batches and subtasks,
   * and a spinning pool would take the core a concurrent subtask needs.
   */
  static OrtSession.SessionOptions sessionOptions(int threads) throws OrtException {
    OrtSession.SessionOptions options = new OrtSession.SessionOptions();
    options.setIntraOpNumThreads(threads);
    options.setInterOpNumThreads(1);
    options.setExecutionMode(OrtSession.SessionOptions.ExecutionMode.SEQUENTIAL);
    options.addConfigEntry("session.intra_op.allow_spinning", "0");
    options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
    return options;
  }

  @Override
  float[][] run(Pass pass, float[][] latents, float[][] text) throws OrtException {
    int batch = latents.length;
    int tokens = pass.shape().sequenceLength();
    int dim = config.dim();
    float[] t = pass.timesteps();
    try (OnnxTensor x = tensor(latents, batch, tokens, dim);
        OnnxTensor tt = OnnxTensor.createTensor(env, direct(t), new long[] {batch, 1});
        OnnxTensor c = tensor(text, batch, DitConfig.TEXT_DIM)) {
      OnnxTensor current = x;
      OrtSession.Result previous = null;
      try {
        for (int layer = 0; layer < blocks.length; layer++) {
          OrtSession.Result result =
              blocks[layer].run(
                  Map.of("x", current, "t", tt, "c", c, "mask", mask(pass.layers()[layer])));
          if (previous != null) {
            previous.close();
          }
          previous = result;
          current = (OnnxTensor) result.get(0);
        }
        return unpack(current, batch, tokens * dim);
      } finally {
        if (previous != null) {
          previous.close();
        }
      }
    }
  }

  @Override
  public float[][] decode(float[][] latents, int tokens) throws OrtException {
    int batch = latents.length;
    try (OnnxTensor z = tensor(latents, batch, tokens, config.dim());
        OrtSession.Result result = decoder.run(Map.of("z", z))) {
      return unpack((OnnxTensor) result.get(0), batch, tokens * DitConfig.PATCH_VALUES);
    }
  }

  private OnnxTensor mask(HybridAttention.Layer layer) {
    int tokens = layer.shape().sequenceLength();
    long key = ((long) tokens << 32) | layer.windowFrames();
    return masks.computeIfAbsent(
        key,
        k -> {
          try {
            return OnnxTensor.createTensor(env, direct(layer.mask()), new long[] {tokens, tokens});
          } catch (OrtException e) {
            throw new IllegalStateException(e);
          }
        });
  }

  private OnnxTensor tensor(float[][] rows, long... shape) throws OrtException {
    FloatBuffer buffer = allocate(rows.length * rows[0].length);
    for (float[] row : rows) {
      buffer.put(row);
    }
    return OnnxTensor.createTensor(env, buffer.flip(), shape);
  }

  private static float[][] unpack(OnnxTensor tensor, int rows, int width) {
    FloatBuffer buffer = tensor.getFloatBuffer();
    float[][] out = new float[rows][width];
    for (float[] row : out) {
      buffer.get(row);
    }
    return out;
  }

  private static FloatBuffer direct(float[] values) {
    return allocate(values.length).put(values).flip();
  }

  private static FloatBuffer allocate(int floats) {
    return ByteBuffer.allocateDirect(floats * Float.BYTES)
        .order(ByteOrder.nativeOrder())
        .asFloatBuffer();
  }

  @Override
  public void close() throws OrtException {
    for (OnnxTensor mask : masks.values()) {
      mask.close();
    }
    for (OrtSession block : blocks) {
      block.close();
    }
    decoder.close();
  }
}
