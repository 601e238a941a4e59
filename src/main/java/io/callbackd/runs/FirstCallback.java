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

  /**
   * A boolean SQL expression: whether the statement's commit sends the dispatchers' wake-up NOTIFY.
   * callbackd.wake_dispatchers (called by the queue's statement trigger and the outbox trigger) sends it only from
   * the transaction holding this advisory lock, the same key; taken here first, it is the same session's lock, which
   * the trigger then takes again. False when another transaction holds it now: that one's NOTIFY may wake a claim
   * that runs before this commit, so the caller wakes its own dispatchers after the commit. Only for statements that
   * insert into the queue: the lock held by a transaction that sends no NOTIFY would make others skip theirs, and the
   * queue's statement trigger sends it for a transaction that holds the lock even when the statement added no row
   * (migration V27), as it sends it for a statement that added some. The API's update asks only when it may queue a
   * callback, so that an update that queues nothing takes no lock and sends no NOTIFY.
   */
  public static final String SENDS_WAKE_UP = "pg_try_advisory_xact_lock('callbackd.queue'::regclass::oid::integer, 0)";

  /**
   * A boolean SQL expression over a runs row's columns (unqualified): whether the run shows that it ended before, its
   * completed_at set or a callback outcome written back to it. Only such a run can have its first callback in
   * history already; the outbox trigger (migration V23) and the statements that queue a first callback themselves
   * look in history only for those, since history's partitions, which no run id prunes, grow with the retention.
   */
  public static final String ENDED_BEFORE = "(completed_at IS NOT NULL OR callback_sent_at IS NOT NULL"
    + " OR callback_status_code IS NOT NULL OR callback_error IS NOT NULL)";

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
