package io.callbackd.delivery;

/**
 * Whether a dispatcher whose claim found work should look again a few milliseconds later. At most one transaction
 * at a time sends the wake-up NOTIFY; the others skip it, and one that skipped can commit just after the claim its
 * NOTIFY-sending neighbour woke has read the queue. Skipping transactions count themselves in PostgreSQL (migration
 * V25), and every claim that takes something reads the count: the second look is worth its round trip only while the
 * count moves. It is kept for {@link #RECENT_NANOS} after the count was last seen to move, since the claim that saw a
 * skip may run before the transaction that sends the NOTIFY commits, and the claim that this NOTIFY wakes then reads
 * the same count again.
 */
final class SkippedWakeUps {

  /** How long after a skip was last seen claims that find work keep looking again. */
  static final long RECENT_NANOS = 1_000_000_000L;

  private long seen = -1;
  private long movedAt;

  /**
   * @param skips     the count a claim that took callbacks read (never negative)
   * @param nowNanos  {@link System#nanoTime()} now
   * @return whether to look again shortly (true on the first claim: nothing is known yet, but the window stays
   *         closed until the count moves)
   */
  boolean lookAgain(long skips, long nowNanos) {
    if (seen < 0) {
      // The first count this dispatcher reads says nothing of when it moved: look again this once, and from the
      // next claim on only after the count moves.
      seen = skips;
      movedAt = nowNanos - RECENT_NANOS;
      return true;
    }
    if (skips != seen) {
      seen = skips;
      movedAt = nowNanos;
      return true;
    }
    return nowNanos - movedAt < RECENT_NANOS;
  }
}
