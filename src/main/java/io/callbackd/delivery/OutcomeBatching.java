package io.callbackd.delivery;

/**
 * When a dispatcher writes its outcomes: at once, or after lingering for more to share the batch. Every batch is one
 * transaction and one commit however many outcomes it holds, and at a few hundred callbacks a second most would hold
 * two or three; a short linger makes them fewer and fuller. Only deliveries nobody waits for linger: a destination at
 * its limit of callbacks in flight gets its room back only when the outcomes are committed, a breaker's trial decides
 * the breaker, failures count toward it, and a callback's final failure must be recorded within its lifetime's bound.
 */
final class OutcomeBatching {

  /** Outcomes enough for a full batch's worth of work: written at once, whatever the linger. */
  static final int WRITE_AT = 128;

  private OutcomeBatching() {
  }

  /**
   * @param waiting     outcomes not yet written
   * @param urgent      one of them must not linger ({@link WriteBack#urgent()})
   * @param lingerOver  the first of them has waited the whole linger
   * @param draining    the dispatcher is stopping: nothing waits any more
   * @param lingerMs    the linger; 0 writes at once
   */
  static boolean writeNow(int waiting, boolean urgent, boolean lingerOver, boolean draining, long lingerMs) {
    return waiting > 0 && (lingerMs <= 0 || lingerOver || draining || urgent || waiting >= WRITE_AT);
  }
}
