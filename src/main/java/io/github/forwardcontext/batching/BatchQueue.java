package io.github.forwardcontext.batching;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The items waiting for a batch, one first-in-first-out lane per compatibility key (one lane in all
 * without {@code compatibleBy}), under one lock.
 *
 * <p>Callers {@linkplain #offer offer} and {@linkplain #withdraw withdraw} items; the dispatcher
 * alone {@linkplain #next takes} batches; a timed close or a dying dispatcher {@linkplain #drain
 * drains} what is left. Every slot is stamped under the lock with its arrival time and an arrival
 * number, so each lane's head is its oldest item, and the oldest items of two lanes compare by
 * arrival number even when the clock reads the same for both.
 *
 * <p>How the dispatcher decides, in {@link #next}: a lane is <em>ready</em> when it holds {@code
 * maxBatchSize} items, when its oldest item has waited {@code maxWait}, when {@code maxWait} is
 * zero, or when the batcher is closing. Of the ready lanes, the one whose oldest item arrived first
 * gives the next batch, so no key starves. If no lane is ready, the dispatcher waits until the
 * earliest deadline among the lanes' oldest items, or, with an empty queue, until an item arrives.
 * A lane that empties is dropped, so the map holds only the keys that have items queued.
 *
 * @param <I> the type of the items
 * @param <O> the type of the results
 */
final class BatchQueue<I, O> {

  /** What the dispatcher does next: run a batch, wait, or end. */
  record Step<I, O>(List<Slot<I, O>> batch, Object key, long deadline, int kind) {
    static final int RUN = 0;
    static final int IDLE = 1;
    static final int WAIT = 2;
    static final int END = 3;
  }

  private final String name;
  private final int maxBatchSize;
  private final long maxWaitNanos;
  private final int maxQueued;
  private final Ticker ticker;

  private final ReentrantLock lock = new ReentrantLock();
  private final Map<Object, ArrayDeque<Slot<I, O>>> lanes = new HashMap<>(); // guarded by lock
  private int size; // guarded by lock
  private long arrivals; // guarded by lock
  private boolean closing; // guarded by lock
  private Throwable died; // guarded by lock: what ended the dispatcher, if it failed
  private volatile int depth;

  BatchQueue(String name, int maxBatchSize, long maxWaitNanos, int maxQueued, Ticker ticker) {
    this.name = name;
    this.maxBatchSize = maxBatchSize;
    this.maxWaitNanos = maxWaitNanos;
    this.maxQueued = maxQueued;
    this.ticker = ticker;
  }

  /** {@return the number of items queued, of every key} */
  int size() {
    return depth;
  }

  /**
   * Queues {@code slot} at the end of its key's lane; {@code null} if it was queued, otherwise why
   * it was refused (closed, dispatcher failed, or {@code maxQueued} reached).
   */
  String offer(Slot<I, O> slot) {
    lock.lock();
    try {
      if (died != null) {
        return "Batcher '"
            + name
            + "' stopped after its dispatcher failed; it accepts no more items";
      }
      if (closing) {
        return "Batcher '" + name + "' is closed; it accepts no more items";
      }
      if (size >= maxQueued) {
        return "Batcher '"
            + name
            + "' already has "
            + size
            + (size == 1 ? " item" : " items")
            + " waiting, its maxQueued; the item is rejected";
      }
      slot.arrival = ticker.read();
      slot.sequence = arrivals++;
      lanes.computeIfAbsent(slot.key, k -> new ArrayDeque<>()).addLast(slot);
      depth = ++size;
      return null;
    } finally {
      lock.unlock();
    }
  }

  /** Takes {@code slot} out of the queue; {@code false} if it is no longer queued. */
  boolean withdraw(Slot<I, O> slot) {
    lock.lock();
    try {
      ArrayDeque<Slot<I, O>> lane = lanes.get(slot.key);
      if (lane == null || !lane.remove(slot)) { // identity: Slot does not override equals
        return false;
      }
      if (lane.isEmpty()) {
        lanes.remove(slot.key);
      }
      depth = --size;
      return true;
    } finally {
      lock.unlock();
    }
  }

  /** Stops accepting items; the queued ones still run. */
  void close() {
    lock.lock();
    try {
      closing = true;
    } finally {
      lock.unlock();
    }
  }

  /** Decides, for the dispatcher only, what it does next (see the class comment). */
  Step<I, O> next() {
    lock.lock();
    try {
      if (size == 0) {
        return new Step<>(null, null, 0, closing ? Step.END : Step.IDLE);
      }
      boolean now = closing || maxWaitNanos == 0;
      long time = 0;
      boolean timeRead = false;
      ArrayDeque<Slot<I, O>> ready = null;
      Object readyKey = null;
      long deadline = 0;
      boolean waiting = false;
      for (Map.Entry<Object, ArrayDeque<Slot<I, O>>> entry : lanes.entrySet()) {
        ArrayDeque<Slot<I, O>> lane = entry.getValue();
        Slot<I, O> oldest = lane.peekFirst();
        boolean isReady = now || lane.size() >= maxBatchSize;
        long due = oldest.arrival + maxWaitNanos;
        if (!isReady) {
          if (!timeRead) {
            time = ticker.read();
            timeRead = true;
          }
          isReady = time - due >= 0;
        }
        if (isReady) {
          if (ready == null || oldest.sequence < ready.peekFirst().sequence) {
            ready = lane;
            readyKey = entry.getKey();
          }
        } else if (!waiting || due - deadline < 0) {
          deadline = due;
          waiting = true;
        }
      }
      if (ready == null) {
        return new Step<>(null, null, deadline, Step.WAIT);
      }
      int taken = Math.min(ready.size(), maxBatchSize);
      List<Slot<I, O>> batch = new ArrayList<>(taken);
      for (int i = 0; i < taken; i++) {
        batch.add(ready.pollFirst());
      }
      if (ready.isEmpty()) {
        lanes.remove(readyKey);
      }
      size -= taken;
      depth = size;
      return new Step<>(batch, readyKey, 0, Step.RUN);
    } finally {
      lock.unlock();
    }
  }

  /**
   * Closes the queue and takes every queued item out of it, oldest first; with a non-null {@code
   * died}, later offers are refused as after a dispatcher failure.
   */
  List<Slot<I, O>> drain(Throwable died) {
    lock.lock();
    try {
      closing = true;
      if (died != null) {
        this.died = died;
      }
      List<Slot<I, O>> left = new ArrayList<>(size);
      for (ArrayDeque<Slot<I, O>> lane : lanes.values()) {
        left.addAll(lane);
      }
      left.sort((a, b) -> Long.compare(a.sequence, b.sequence));
      lanes.clear();
      size = 0;
      depth = 0;
      return left;
    } finally {
      lock.unlock();
    }
  }
}
