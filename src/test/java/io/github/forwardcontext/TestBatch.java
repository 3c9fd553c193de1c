package io.github.forwardcontext;

/** A forward batch for tests. */
record TestBatch(String requestId) implements ForwardBatch {}
