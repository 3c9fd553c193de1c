package io.github.forwardcontext.example.model;

import io.github.forwardcontext.ForwardBatch;
import java.util.Arrays;

/**
 * The forward batch of one denoising pass: which request each sample belongs to and the timestep
 * each sample is at. Requests at different steps share a pass, so the timestep is per sample.
 *
 * <p>The pass's {@link io.github.forwardcontext.ForwardContext#currentTimestep()} is the timestep
 * of its oldest request, the one that opened the batch: one number for code that wants one (a
 * report, a span's tag). The model never reads it; it reads {@link #timesteps()}, as a model whose
 * samples sit at different steps must.
 *
 * @param requests the request of each sample, in sample order
 * @param timesteps the timestep of each sample, in sample order
 */
public record DenoiseBatch(int[] requests, int[] timesteps) implements ForwardBatch {

  /** {@return the batch of one request's {@code samples} samples, all at {@code timestep}} */
  public static DenoiseBatch ofRequest(int request, int samples, int timestep) {
    int[] requests = new int[samples];
    int[] timesteps = new int[samples];
    Arrays.fill(requests, request);
    Arrays.fill(timesteps, timestep);
    return new DenoiseBatch(requests, timesteps);
  }

  /** {@return the number of samples} */
  public int samples() {
    return timesteps.length;
  }

  @Override
  public String toString() {
    return "DenoiseBatch[requests="
        + Arrays.toString(requests)
        + ", timesteps="
        + Arrays.toString(timesteps)
        + "]";
  }
}
