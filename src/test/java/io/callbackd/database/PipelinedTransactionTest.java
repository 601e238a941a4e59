package io.callbackd.database;

import io.callbackd.support.Await;
import io.callbackd.support.TestPostgres;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.pgclient.PgBuilder;
import io.vertx.pgclient.PgConnectOptions;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.PoolOptions;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.RowSet;
import io.vertx.sqlclient.Tuple;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Statements sent without waiting for each other still form one transaction: all of it commits, or none of it, and
 * the connection goes back to the pool with no transaction left open (a pool of one connection shows it).
 */
class PipelinedTransactionTest {

  private static final Duration WAIT = Duration.ofSeconds(30);
  private final Vertx vertx = Vertx.vertx();
  private Pool pool;

  @BeforeEach
  void start() {
    pool = PgBuilder.pool().with(new PoolOptions().setMaxSize(1))
      .connectingTo(PgConnectOptions.fromUri(TestPostgres.newDatabase()).setPipeliningLimit(256)).using(vertx).build();
    Await.result(pool.query("CREATE TABLE t (id int PRIMARY KEY, v text NOT NULL)").execute(), WAIT);
  }

  @AfterEach
  void stop() {
    Await.result(pool.close(), WAIT);
    Await.result(vertx.close(), WAIT);
  }

  private static Throwable failure(Future<?> f) {
    ExecutionException e = assertThrows(ExecutionException.class,
      () -> f.toCompletionStage().toCompletableFuture().get(WAIT.toMillis(), TimeUnit.MILLISECONDS));
    return e.getCause();
  }

  private long rows() {
    return Await.result(pool.query("SELECT count(*) FROM t").execute(), WAIT).iterator().next().getLong(0);
  }

  private static Future<RowSet<Row>> insert(PipelinedTransaction tx, int id, String v) {
    return tx.connection().preparedQuery("INSERT INTO t (id, v) VALUES ($1, $2)").execute(Tuple.of(id, v));
  }

  @Test
  void statementsSentTogetherCommitTogether() {
    long seen = Await.result(PipelinedTransaction.run(pool, tx -> {
      // Sent one behind the other, none waiting for the previous answer; the last reads what the others wrote.
      Future<RowSet<Row>> a = insert(tx, 1, "a");
      Future<RowSet<Row>> b = insert(tx, 2, "b");
      Future<RowSet<Row>> count = tx.connection().query("SELECT count(*) FROM t").execute();
      Future<Void> committed = tx.commit();
      return Future.join(a, b, count, committed).map(v -> count.result().iterator().next().getLong(0));
    }), WAIT);
    assertEquals(2, seen, "the statements ran in the order sent, in one transaction");
    assertEquals(2, rows());
  }

  @Test
  void aFailedStatementUndoesTheWholeTransactionEvenWithItsCommitSent() {
    Throwable e = failure(PipelinedTransaction.run(pool,
      tx -> {
        Future<RowSet<Row>> a = insert(tx, 1, "a");
        Future<RowSet<Row>> refused = insert(tx, 2, null);
        Future<RowSet<Row>> after = insert(tx, 3, "c");
        Future<Void> committed = tx.commit();
        return Future.join(a, refused, after, committed).mapEmpty();
      }));
    assertTrue(e.getMessage().contains("null value in column \"v\""), e.getMessage());
    assertEquals(0, rows(), "nothing of it committed");
    // The pool's only connection is usable: no transaction was left open on it.
    Await.result(pool.query("INSERT INTO t (id, v) VALUES (9, 'z')").execute(), WAIT);
    assertEquals(1, rows());
  }

  @Test
  void workThatFailsBeforeItsCommitIsRolledBack() {
    assertEquals("changed my mind", failure(PipelinedTransaction.run(pool,
      tx -> insert(tx, 1, "a").compose(r -> Future.failedFuture(new IllegalStateException("changed my mind")))))
      .getMessage());
    assertTrue(failure(PipelinedTransaction.run(pool, tx -> insert(tx, 2, "b").map(r -> "forgot to commit")))
      .getMessage().contains("without a commit"));
    assertEquals(0, rows(), "neither committed");
    // The pool's only connection is outside any transaction: a statement on it starts a transaction of its own.
    boolean ownTransaction = Await.result(pool.query("SELECT transaction_timestamp() = statement_timestamp()")
      .execute(), WAIT).iterator().next().getBoolean(0);
    assertTrue(ownTransaction, "no transaction was left open on the pool's connection");
  }
  @Test
  void statementsSentWithTheirCommitInOneWriteCommitTogether() {
    long seen = Await.result(PipelinedTransaction.run(pool, tx -> {
      // Vert.x's SQL client groups commands into one write on this kind of connection: the path callbackd takes.
      assertTrue(tx.connection() instanceof io.vertx.sqlclient.impl.SqlClientInternal);
      return insert(tx, 1, "a").compose(r -> tx.commitWith(client -> {
        Future<RowSet<Row>> b = client.preparedQuery("INSERT INTO t (id, v) VALUES ($1, $2)").execute(Tuple.of(2, "b"));
        Future<RowSet<Row>> count = client.query("SELECT count(*) FROM t").execute();
        return Future.join(b, count).map(v -> count.result().iterator().next().getLong(0));
      }));
    }), WAIT);
    assertEquals(2, seen, "the grouped statements ran after the first, in one transaction");
    assertEquals(2, rows());
  }

  @Test
  void aGroupThatFailsOrThrowsCommitsNothing() {
    Throwable refused = failure(PipelinedTransaction.run(pool, tx -> insert(tx, 1, "a").compose(r -> tx.commitWith(
      client -> client.preparedQuery("INSERT INTO t (id, v) VALUES ($1, $2)").execute(Tuple.of(2, (String) null))))));
    assertTrue(refused.getMessage().contains("null value in column \"v\""), refused.getMessage());
    assertEquals("cannot build it", failure(PipelinedTransaction.run(pool, tx -> insert(tx, 3, "c")
      .compose(r -> tx.commitWith(client -> {
        throw new IllegalStateException("cannot build it");
      })))).getMessage());
    assertEquals(0, rows(), "nothing of either committed");
    Await.result(pool.query("INSERT INTO t (id, v) VALUES (9, 'z')").execute(), WAIT);
    assertEquals(1, rows());
  }

  @Test
  void statementsSentInOneWriteWithTheirBeginAndCommitFormOneTransaction() {
    long seen = Await.result(PipelinedTransaction.inOneWrite(pool, client -> {
      Future<RowSet<Row>> a = client.preparedQuery("INSERT INTO t (id, v) VALUES ($1, $2)").execute(Tuple.of(1, "a"));
      // What a later statement reads of an earlier one: its rows, and its transaction-local settings.
      Future<RowSet<Row>> set = client.query("SELECT set_config('callbackd.test_handed', 'from the first', true)")
        .execute();
      Future<RowSet<Row>> read = client.query("SELECT (SELECT count(*) FROM t) AS n,"
        + " current_setting('callbackd.test_handed') AS handed, pg_current_xact_id_if_assigned() IS NOT NULL AS open")
        .execute();
      return Future.join(a, set, read).map(v -> {
        Row r = read.result().iterator().next();
        assertEquals("from the first", r.getString("handed"));
        assertTrue(r.getBoolean("open"), "a read-only statement has the transaction id of the insert before it");
        return r.getLong("n");
      });
    }), WAIT);
    assertEquals(1, seen);
    assertEquals(1, rows());
    String after = Await.result(pool.query("SELECT coalesce(current_setting('callbackd.test_handed', true), '')")
      .execute(), WAIT).iterator().next().getString(0);
    assertEquals("", after, "the setting ended with the transaction");
  }

  @Test
  void aWriteWithItsBeginThatFailsOrThrowsCommitsNothing() {
    Throwable refused = failure(PipelinedTransaction.inOneWrite(pool, client -> {
      Future<RowSet<Row>> a = client.preparedQuery("INSERT INTO t (id, v) VALUES ($1, $2)").execute(Tuple.of(1, "a"));
      Future<RowSet<Row>> b = client.preparedQuery("INSERT INTO t (id, v) VALUES ($1, $2)")
        .execute(Tuple.of(2, (String) null));
      return Future.join(a, b).mapEmpty();
    }));
    assertTrue(refused.getMessage().contains("null value in column \"v\""), refused.getMessage());
    assertEquals("cannot build it", failure(PipelinedTransaction.inOneWrite(pool, client -> {
      throw new IllegalStateException("cannot build it");
    })).getMessage());
    assertEquals(0, rows(), "nothing of either committed");
    boolean ownTransaction = Await.result(pool.query("SELECT transaction_timestamp() = statement_timestamp()")
      .execute(), WAIT).iterator().next().getBoolean(0);
    assertTrue(ownTransaction, "no transaction was left open on the pool's connection");
  }
}
