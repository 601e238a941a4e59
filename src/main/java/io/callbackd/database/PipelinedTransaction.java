package io.callbackd.database;

import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.SqlClient;
import io.vertx.sqlclient.SqlConnection;
import io.vertx.sqlclient.impl.SqlClientInternal;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * A transaction whose statements do not wait for answers they do not need. Vert.x's {@code Transaction} sends each
 * command only once the previous one has answered: BEGIN, every statement and COMMIT cost a round trip each, and
 * every round trip wakes both callbackd's event loop and PostgreSQL's backend. Here BEGIN goes out with the first
 * statements and COMMIT right behind the last one, on one connection that pipelines them; PostgreSQL runs them in
 * order, in one transaction. A statement that fails aborts the transaction, so the statements after it fail too
 * and the COMMIT ends it as a rollback: the result is then that failure.
 */
public final class PipelinedTransaction {

  private final SqlConnection conn;
  private Future<Void> commit;

  private PipelinedTransaction(SqlConnection conn) {
    this.conn = conn;
  }

  /** The connection the transaction's statements are sent on. */
  public SqlConnection connection() {
    return conn;
  }

  /**
   * Sends COMMIT now, behind the statements already sent; the work calls it right after sending its last statement
   * and completes with that statement's result and this one (after both answered: {@code Future.join}).
   */
  public Future<Void> commit() {
    if (commit == null) {
      commit = conn.query("COMMIT").execute().mapEmpty();
    }
    return commit;
  }

  /**
   * Sends the statements that {@code last} sends, and COMMIT behind them, in one write: one system call and one
   * wake-up of PostgreSQL's backend for all of them, where each statement sent on its own is written (and flushed)
   * alone. Completes with {@code last}'s result once COMMIT answered. {@code last} sends its statements at once, on the
   * client it is given, and nothing after; if it throws, no COMMIT is sent and the transaction is rolled back.
   */
  public <T> Future<T> commitWith(Function<SqlClient, Future<T>> last) {
    return commitWith(false, last);
  }

  private <T> Future<T> commitWith(boolean begin, Function<SqlClient, Future<T>> last) {
    if (commit != null) {
      throw new IllegalStateException("the transaction's COMMIT was sent already");
    }
    List<Future<T>> result = new ArrayList<>(1);
    Handler<SqlClient> block = client -> {
      if (begin) {
        client.query("BEGIN").execute();
      }
      try {
        result.add(last.apply(client));
      } catch (RuntimeException e) {
        // Nothing was sent but a BEGIN of our own: end it before the connection goes back.
        result.add(begin ? client.query("ROLLBACK").execute().transform(r -> Future.<T>failedFuture(e))
          : Future.failedFuture(e));
        return;
      }
      commit = client.query("COMMIT").execute().mapEmpty();
    };
    // Vert.x's grouping of commands into one write is internal to its SQL client: without it (a connection of another
    // kind), the statements and COMMIT go out one write each, as before.
    if (conn instanceof SqlClientInternal grouping) {
      grouping.group(block);
    } else {
      block.handle(conn);
    }
    Future<T> done = result.get(0);
    return commit == null ? done : Future.join(done, commit).map(v -> done.result());
  }

  /**
   * Runs the statements that {@code statements} sends in a transaction of their own on a connection of {@code pool}:
   * BEGIN, the statements and COMMIT go out in one write, for work whose statements need nothing from each other's
   * answers (a later one may read what an earlier one wrote). Completes with {@code statements}' result once COMMIT
   * answered; a statement that fails makes the COMMIT a rollback, and the result that failure.
   */
  public static <T> Future<T> inOneWrite(Pool pool, Function<SqlClient, Future<T>> statements) {
    return pool.getConnection().compose(conn -> new PipelinedTransaction(conn).commitWith(true, statements)
      .eventually(conn::close));
  }

  /**
   * Runs {@code work} in a transaction on a connection of {@code pool}: BEGIN is sent first, then whatever the work
   * sends. The work must end by {@link #commit()}; if it fails before that, the transaction is rolled back. The
   * connection goes back to the pool once every command sent on it has answered.
   */
  public static <T> Future<T> run(Pool pool, Function<PipelinedTransaction, Future<T>> work) {
    return pool.getConnection().compose(conn -> {
      PipelinedTransaction tx = new PipelinedTransaction(conn);
      Future<Void> begin = conn.query("BEGIN").execute().mapEmpty();
      Future<T> done;
      try {
        done = work.apply(tx);
      } catch (RuntimeException e) {
        done = Future.failedFuture(e);
      }
      Future<T> result = done;
      return Future.join(begin, result).transform(ar -> {
        if (tx.commit == null) {
          // Not committed (a failure before the end, or work that forgot to): roll back whatever was sent.
          Throwable cause = ar.failed() ? ar.cause()
            : new IllegalStateException("the transaction's work ended without a commit");
          return conn.query("ROLLBACK").execute().transform(rb -> Future.<T>failedFuture(cause));
        }
        // The COMMIT was sent: it ends the transaction either way (as a rollback after a failed statement).
        return tx.commit.transform(c -> ar.failed() ? Future.<T>failedFuture(ar.cause())
          : c.failed() ? Future.<T>failedFuture(c.cause()) : Future.succeededFuture(result.result()));
      }).eventually(conn::close);
    });
  }
}
