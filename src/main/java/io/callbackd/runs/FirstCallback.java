package io.callbackd.runs;

/**
 * A run's first callback as the statements that queue it themselves build it (the outbox trigger builds the same in
 * SQL): the queue's columns and their values over a runs row, with the body fixed from that row. One text for every
 * statement that queues one, so that a message is built one way whichever queued it.
 */
public final class FirstCallback {

  /** The queue's columns that {@link #valuesOf} fills, in its order. */
  public static final String COLUMNS = "run_id, generation, webhook_id, url, destination, body, next_attempt_at,"
    + " expires_at";

  private FirstCallback() {
  }

  /**
   * The values of {@link #COLUMNS} for the runs row aliased {@code r}, with {@code callbackd.settings} aliased
   * {@code s} in the same FROM: a new webhook-id, the URL and its destination ('invalid' for a URL that cannot be
   * one), the payload, due after the first delay, expiring after the lifetime.
   */
  public static String valuesOf(String r) {
    return r + ".id, 1, 'msg_' || replace(gen_random_uuid()::text, '-', ''), " + r + ".callback_url,"
      + " coalesce(callbackd.origin(" + r + ".callback_url), 'invalid'), callbackd.payload(" + r + ".id, " + r
      + ".status, {utc:" + r + ".completed_at}, " + r + ".metadata_::json, " + r + ".agent_id, " + r
      + ".stop_reason), now() + s.first_delay, now() + s.lifetime";
  }
}
