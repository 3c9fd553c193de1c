package io.github.forwardcontext.example.fleet;

import io.github.forwardcontext.example.ExamplePipeline;
import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Worker processes of the example pipeline, each its own JVM serving {@code /metrics} on a loopback
 * port after its run. {@link #close()} stops every worker it started, and may be called more than
 * once and from a shutdown hook.
 *
 * <p>Each worker is the example itself, on ONNX Runtime with the MiniLM encoder (about 0.5 GB of
 * resident memory, mostly the runtime's and the model's native memory, and 2-3 s to start); its
 * heap is capped at {@link #HEAP}.
 */
final class Workers implements AutoCloseable {
  /**
   * Each worker's maximum heap: the 90 MB model is read into it once, then handed to the runtime.
   */
  static final String HEAP = "-Xmx256m";

  private static final Pattern SERVING = Pattern.compile("Serving http://127\\.0\\.0\\.1:(\\d+)/");
  private static final Pattern ROW = Pattern.compile("^\\s+\\((\\d+), (\\d+), ([0-9.]+)\\)\\s*$");

  /** One row of a worker's own report: its count and median for a batch size. */
  record Row(long count, double medianMillis) {}

  /** A started worker: its process, the port it serves on and its own report rows by batch size. */
  record Worker(int index, Process process, int port, Map<Integer, Row> rows, Path log) {}

  private final Path dir;
  private final List<Process> processes = new CopyOnWriteArrayList<>();
  private final HttpClient http =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

  /**
   * Workers whose logs go to {@code dir}.
   *
   * @param dir an existing, writable directory
   */
  Workers(Path dir) {
    this.dir = dir;
  }

  /**
   * Starts one worker per argument list, all at once, and returns when each serves its metrics: the
   * example pipeline with those arguments and {@code --serve 0}, on this JVM's Java and class path.
   *
   * @throws IllegalStateException if a worker exits or does not serve within {@code timeout}
   */
  List<Worker> start(List<List<String>> arguments, Duration timeout)
      throws IOException, InterruptedException {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<CompletableFuture<Worker>> started = new ArrayList<>();
    for (int i = 0; i < arguments.size(); i++) {
      List<String> command = new ArrayList<>();
      command.addAll(
          List.of(
              java,
              HEAP,
              "-XX:+UseSerialGC",
              "-XX:TieredStopAtLevel=1",
              "--enable-preview",
              "--enable-native-access=ALL-UNNAMED",
              "-cp",
              System.getProperty("java.class.path"),
              ExamplePipeline.class.getName()));
      command.addAll(arguments.get(i));
      command.addAll(List.of("--serve", "0"));
      Path log = dir.resolve("worker-" + i + ".log");
      Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
      processes.add(process);
      started.add(follow(i, process, log));
    }
    long deadline = System.nanoTime() + timeout.toNanos();
    List<Worker> workers = new ArrayList<>();
    for (CompletableFuture<Worker> worker : started) {
      try {
        workers.add(worker.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS));
      } catch (ExecutionException e) {
        throw new IllegalStateException(e.getCause().getMessage(), e.getCause());
      } catch (TimeoutException e) {
        throw new IllegalStateException(
            "a worker did not serve its metrics within " + timeout + "; see its log in " + dir);
      }
    }
    return workers;
  }

  /**
   * Copies a worker's output to its log, collecting its report rows, and completes when it serves.
   */
  private static CompletableFuture<Worker> follow(int index, Process process, Path log) {
    CompletableFuture<Worker> started = new CompletableFuture<>();
    Thread.ofVirtual()
        .name("worker-" + index + "-output")
        .start(
            () -> {
              Map<Integer, Row> rows = new TreeMap<>();
              try (BufferedReader in =
                      new BufferedReader(
                          new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
                  BufferedWriter out = Files.newBufferedWriter(log)) {
                for (String line = in.readLine(); line != null; line = in.readLine()) {
                  out.write(line);
                  out.newLine();
                  out.flush();
                  Matcher row = ROW.matcher(line);
                  if (row.matches()) {
                    rows.put(
                        Integer.parseInt(row.group(1)),
                        new Row(Long.parseLong(row.group(2)), Double.parseDouble(row.group(3))));
                  }
                  Matcher serving = SERVING.matcher(line);
                  if (serving.find()) {
                    started.complete(
                        new Worker(
                            index,
                            process,
                            Integer.parseInt(serving.group(1)),
                            Map.copyOf(rows),
                            log));
                  }
                }
              } catch (IOException | RuntimeException e) {
                started.completeExceptionally(e);
              }
              started.completeExceptionally(
                  new IllegalStateException(
                      "worker " + index + " exited before serving its metrics; see " + log));
            });
    return started;
  }

  /** {@return the text a worker serves on {@code /metrics}} */
  String scrape(Worker worker) throws IOException, InterruptedException {
    return http.send(
            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + worker.port() + "/metrics"))
                .timeout(Duration.ofSeconds(5))
                .build(),
            HttpResponse.BodyHandlers.ofString())
        .body();
  }

  /** Stops every worker and waits for each to exit. */
  @Override
  public void close() {
    Processes.stop(processes);
  }
}
