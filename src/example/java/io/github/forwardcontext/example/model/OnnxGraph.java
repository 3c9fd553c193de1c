package io.github.forwardcontext.example.model;

import ai.onnx.proto.OnnxMl;
import com.google.protobuf.ByteString;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A small builder of ONNX graphs in Java, on the generated {@code onnx.proto} classes: IR version
 * 8, opset 17, float tensors whose leading dimensions may be symbolic ({@code "batch"}, {@code
 * "tokens"}), so that one session runs any batch size.
 */
final class OnnxGraph {
  static final long IR_VERSION = 8;
  static final long OPSET = 17;

  private final OnnxMl.GraphProto.Builder graph = OnnxMl.GraphProto.newBuilder();
  private int nodes;

  OnnxGraph(String name) {
    graph.setName(name);
  }

  /** A float input; each dimension is a {@code String} (symbolic) or an {@code Integer}. */
  OnnxGraph input(String name, Object... dims) {
    graph.addInput(valueInfo(name, dims));
    return this;
  }

  /** A float output; each dimension is a {@code String} (symbolic) or an {@code Integer}. */
  OnnxGraph output(String name, Object... dims) {
    graph.addOutput(valueInfo(name, dims));
    return this;
  }

  /** A float initializer, row-major. */
  String constant(String name, float[] values, long... dims) {
    ByteBuffer bytes = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    bytes.asFloatBuffer().put(values);
    graph.addInitializer(
        OnnxMl.TensorProto.newBuilder()
            .setName(name)
            .setDataType(OnnxMl.TensorProto.DataType.FLOAT_VALUE)
            .addAllDims(java.util.Arrays.stream(dims).boxed().toList())
            .setRawData(ByteString.copyFrom(bytes)));
    return name;
  }

  /** An int64 initializer (shapes, axes). */
  String longs(String name, long... values) {
    ByteBuffer bytes = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
    bytes.asLongBuffer().put(values);
    graph.addInitializer(
        OnnxMl.TensorProto.newBuilder()
            .setName(name)
            .setDataType(OnnxMl.TensorProto.DataType.INT64_VALUE)
            .addDims(values.length)
            .setRawData(ByteString.copyFrom(bytes)));
    return name;
  }

  /** A node with one output named {@code output}; returns the output's name. */
  String node(String op, String output, String[] inputs, OnnxMl.AttributeProto... attributes) {
    OnnxMl.NodeProto.Builder node =
        OnnxMl.NodeProto.newBuilder().setOpType(op).setName(op + "_" + nodes++).addOutput(output);
    for (String input : inputs) {
      node.addInput(input);
    }
    for (OnnxMl.AttributeProto attribute : attributes) {
      node.addAttribute(attribute);
    }
    graph.addNode(node);
    return output;
  }

  String node(String op, String output, String... inputs) {
    return node(op, output, inputs, new OnnxMl.AttributeProto[0]);
  }

  static OnnxMl.AttributeProto ints(String name, long... values) {
    OnnxMl.AttributeProto.Builder attribute =
        OnnxMl.AttributeProto.newBuilder()
            .setName(name)
            .setType(OnnxMl.AttributeProto.AttributeType.INTS);
    for (long v : values) {
      attribute.addInts(v);
    }
    return attribute.build();
  }

  static OnnxMl.AttributeProto integer(String name, long value) {
    return OnnxMl.AttributeProto.newBuilder()
        .setName(name)
        .setType(OnnxMl.AttributeProto.AttributeType.INT)
        .setI(value)
        .build();
  }

  static OnnxMl.AttributeProto real(String name, float value) {
    return OnnxMl.AttributeProto.newBuilder()
        .setName(name)
        .setType(OnnxMl.AttributeProto.AttributeType.FLOAT)
        .setF(value)
        .build();
  }

  /** {@return the serialized model} */
  byte[] toBytes() {
    return OnnxMl.ModelProto.newBuilder()
        .setIrVersion(IR_VERSION)
        .setProducerName("forward-context-example")
        .addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setDomain("").setVersion(OPSET))
        .setGraph(graph)
        .build()
        .toByteArray();
  }

  private static OnnxMl.ValueInfoProto valueInfo(String name, Object... dims) {
    OnnxMl.TensorShapeProto.Builder shape = OnnxMl.TensorShapeProto.newBuilder();
    for (Object dim : dims) {
      OnnxMl.TensorShapeProto.Dimension.Builder d = OnnxMl.TensorShapeProto.Dimension.newBuilder();
      if (dim instanceof String symbol) {
        d.setDimParam(symbol);
      } else {
        d.setDimValue(((Number) dim).longValue());
      }
      shape.addDim(d);
    }
    return OnnxMl.ValueInfoProto.newBuilder()
        .setName(name)
        .setType(
            OnnxMl.TypeProto.newBuilder()
                .setTensorType(
                    OnnxMl.TypeProto.Tensor.newBuilder()
                        .setElemType(OnnxMl.TensorProto.DataType.FLOAT_VALUE)
                        .setShape(shape)))
        .build();
  }
}
