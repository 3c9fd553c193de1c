package io.github.forwardcontext;

/** Attention metadata for tests: a batch size and a label to tell instances apart. */
record TestMetadata(int batchSize, String label) implements AttentionMetadata {
  TestMetadata(int batchSize) {
    this(batchSize, "meta-" + batchSize);
  }
}
