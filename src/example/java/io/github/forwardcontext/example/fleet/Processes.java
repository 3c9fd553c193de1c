package io.github.forwardcontext.example.fleet;

import java.util.List;
import java.util.concurrent.TimeUnit;

/** Stopping the processes a fleet started. */
final class Processes {
  private Processes() {}

  /**
   * Asks every process to stop, then waits for each, forcing those that do not stop within 10 s.
   */
  static void stop(List<Process> processes) {
    for (Process process : processes) {
      process.destroy();
    }
    for (Process process : processes) {
      try {
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
          process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
      } catch (InterruptedException e) {
        process.destroyForcibly();
        Thread.currentThread().interrupt();
      }
    }
  }
}
