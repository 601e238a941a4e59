package io.callbackd.database;

import io.vertx.core.Future;
import io.vertx.sqlclient.Pool;

/** The statements readiness runs: a round trip to PostgreSQL, and the schema version the migrations reached. */
public final class SchemaProbe {

  static final String PING = "SELECT 1";

  static final String APPLIED_VERSION = "SELECT version FROM callbackd.flyway_schema_history"
    + " WHERE success AND version IS NOT NULL ORDER BY installed_rank DESC LIMIT 1";

  private final Pool pool;

  public SchemaProbe(Pool pool) {
    this.pool = pool;
  }

  public Future<Void> ping() {
    return pool.query(PING).execute().mapEmpty();
  }

  /** The latest successfully applied migration's version, or null when none is recorded. */
  public Future<String> appliedVersion() {
    return pool.query(APPLIED_VERSION).execute()
      .map(rows -> rows.size() == 0 ? null : rows.iterator().next().getString("version"));
  }
}
