package io.callbackd.tracing;

import io.vertx.core.Future;
import io.vertx.sqlclient.SqlConnection;
import io.vertx.sqlclient.Tuple;

/**
 * A W3C trace context as it travels with a callback: the {@code traceparent} (and {@code tracestate}, null when
 * there is none) of the span that scheduled it. Kept in the callback's queue row; every attempt is a child of it.
 */
public record TraceContext(String traceparent, String tracestate) {

  /**
   * Makes the trace context the transaction's (a transaction-local setting): the trigger on {@code callbackd.queue}
   * copies it into every callback the transaction queues, including those the deferred outbox trigger queues at
   * commit, whoever's statement made the run terminal.
   */
  static final String SET_LOCAL = "SELECT set_config('callbackd.traceparent', $1, true),"
    + " set_config('callbackd.tracestate', $2, true)";

  /** Runs {@link #SET_LOCAL} on {@code conn}, which must be in the transaction that makes the run terminal. */
  public Future<Void> applyTo(SqlConnection conn) {
    return conn.preparedQuery(SET_LOCAL).execute(Tuple.of(traceparent, tracestate == null ? "" : tracestate))
      .mapEmpty();
  }
}
