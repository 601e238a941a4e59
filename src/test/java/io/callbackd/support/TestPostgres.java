package io.callbackd.support;

import io.callbackd.config.CallbackdConfig;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;

/** One embedded PostgreSQL per test JVM; every test class gets a fresh database of its own. */
public final class TestPostgres {

  private static final AtomicInteger DATABASES = new AtomicInteger();
  private static EmbeddedPostgres server;

  private TestPostgres() {
  }

  public static synchronized EmbeddedPostgres server() {
    if (server == null) {
      try {
        server = EmbeddedPostgres.builder().start();
      } catch (IOException e) {
        throw new UncheckedIOException("could not start the embedded PostgreSQL for the tests", e);
      }
    }
    return server;
  }

  /** callbackd's settings for the database at {@code pgUrl}, the rest its defaults (opening it migrates it). */
  public static CallbackdConfig config(Vertx vertx, String pgUrl) {
    return Await.result(CallbackdConfig.load(vertx, new JsonObject().put("pg_url", pgUrl), false),
      Duration.ofSeconds(10));
  }

  /** Creates an empty database and returns its {@code postgresql://} URL. */
  public static String newDatabase() {
    String name = "test_" + DATABASES.incrementAndGet() + "_" + ProcessHandle.current().pid();
    try (Connection c = DriverManager.getConnection(server().getJdbcUrl("postgres", "postgres"));
         Statement s = c.createStatement()) {
      s.execute("CREATE DATABASE " + name);
    } catch (SQLException e) {
      throw new IllegalStateException("could not create database " + name, e);
    }
    return "postgresql://postgres@localhost:" + server().getPort() + "/" + name;
  }

  public static String jdbcUrl(String pgUrl) {
    return "jdbc:" + pgUrl.replace("postgresql://postgres@", "postgresql://") + "?user=postgres";
  }
}
