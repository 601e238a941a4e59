package io.callbackd.database;

import io.callbackd.config.CallbackdConfig;
import io.callbackd.config.ConfigException;
import io.vertx.pgclient.PgConnectOptions;
import org.flywaydb.core.Flyway;
import org.flywaydb.core.api.MigrationInfo;
import org.flywaydb.core.api.MigrationInfoService;
import org.flywaydb.core.api.MigrationState;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/**
 * Where callbackd's PostgreSQL is: the server named by {@code CALLBACKD_PG_URL}, or an embedded one whose data lives
 * under the data directory and survives restarts. Everything here blocks (process start, JDBC): it runs once at
 * start-up, off the event loop, before any verticle is deployed.
 */
public final class Database implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(Database.class);
  private static final String MIGRATIONS = "classpath:db/migration";

  private final PgConnectOptions connectOptions;
  private final EmbeddedServer embedded;
  private String schemaVersion;
  private RunsTimestamps runsTimestamps;

  private Database(PgConnectOptions connectOptions, EmbeddedServer embedded) {
    this.connectOptions = connectOptions;
    this.embedded = embedded;
  }

  /** Starts the embedded server when no URL is configured, then applies the migrations. Blocking. */
  public static Database open(CallbackdConfig config) {
    Database db = config.embeddedDatabase() ? startEmbedded(config) : external(config.pgUrl);
    try {
      db.checkRunsTable(config.runsTable);
      db.migrate(RunsTable.qualified(config.runsTable), config);
      db.readRunsTimestamps(config.runsTable);
    } catch (RuntimeException e) {
      db.close();
      throw e;
    }
    return db;
  }

  private static Database external(String url) {
    PgConnectOptions options = PgConnectOptions.fromUri(url.replaceFirst("^postgres://", "postgresql://"));
    LOG.info("Using PostgreSQL at {}:{}/{}", options.getHost(), options.getPort(), options.getDatabase());
    return new Database(options, null);
  }

  private static Database startEmbedded(CallbackdConfig config) {
    Path dataDir = config.dataDir.resolve("postgres");
    try {
      EmbeddedServer pg = EmbeddedServerLauncher.start(dataDir, config.embeddedPgUser, config.embeddedPgUserNamespace);
      LOG.info("No CALLBACKD_PG_URL set: started an embedded PostgreSQL on port {} with its data in {} "
        + "(kept across restarts)", pg.port(), dataDir.toAbsolutePath());
      PgConnectOptions options = new PgConnectOptions()
        .setHost("localhost").setPort(pg.port()).setDatabase("postgres").setUser("postgres");
      return new Database(options, pg);
    } catch (IOException e) {
      throw new IllegalStateException("could not start the embedded PostgreSQL in " + dataDir.toAbsolutePath() + ": "
        + e.getMessage(), e);
    }
  }

  private String jdbcUrl() {
    return "jdbc:postgresql://" + connectOptions.getHost() + ":" + connectOptions.getPort() + "/"
      + connectOptions.getDatabase();
  }

  /**
   * When the runs table exists already (a platform's), it must have every column callbackd uses: refuse to start
   * otherwise, naming what is missing, rather than fail on the first callback.
   */
  private void checkRunsTable(String configured) {
    String schema = RunsTable.schema(configured);
    String table = RunsTable.table(configured);
    Set<String> present = runsColumnTypes(schema, table).keySet();
    if (present.isEmpty()) {
      LOG.info("Runs table {}.{} does not exist: the migrations create it", schema, table);
      return;
    }
    List<String> missing = new ArrayList<>(RunsTable.REQUIRED_COLUMNS);
    missing.removeAll(present);
    if (!missing.isEmpty()) {
      throw new ConfigException("runs_table (CALLBACKD_RUNS_TABLE): the table " + schema + "." + table
        + " lacks the column(s) " + missing + " that callbackd reads or writes; callbackd changes no column of "
        + "an existing runs table, so add them or point CALLBACKD_RUNS_TABLE elsewhere");
    }
    LOG.info("Attaching to the existing runs table {}.{}", schema, table);
  }

  /**
   * The runs table's timestamp types (with or without time zone), which decide how callbackd's statements convert
   * instants to and from them. Read after the migrations, which create the table when there is none.
   */
  private void readRunsTimestamps(String configured) {
    String schema = RunsTable.schema(configured);
    String table = RunsTable.table(configured);
    runsTimestamps = RunsTimestamps.of(runsColumnTypes(schema, table), schema + "." + table);
    LOG.info("Runs table {}.{} timestamps: {} (timestamp columns hold UTC)", schema, table, runsTimestamps);
  }

  /** The runs table's columns with their types ({@code information_schema}); empty when there is no such table. */
  private Map<String, String> runsColumnTypes(String schema, String table) {
    try (Connection c = DriverManager.getConnection(jdbcUrl(), connectOptions.getUser(), connectOptions.getPassword());
         PreparedStatement ps = c.prepareStatement("SELECT column_name, data_type FROM information_schema.columns"
           + " WHERE table_schema = ? AND table_name = ?")) {
      ps.setString(1, schema);
      ps.setString(2, table);
      Map<String, String> types = new HashMap<>();
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          types.put(rs.getString(1), rs.getString(2));
        }
      }
      return types;
    } catch (SQLException e) {
      throw new IllegalStateException("could not inspect the runs table " + schema + "." + table + ": "
        + e.getMessage(), e);
    }
  }

  /** The runs table's timestamp types, as read at start-up. */
  public RunsTimestamps runsTimestamps() {
    return runsTimestamps;
  }

  private void migrate(String runsTable, CallbackdConfig config) {
    String jdbcUrl = jdbcUrl();
    Flyway flyway = Flyway.configure()
      .dataSource(jdbcUrl, connectOptions.getUser(), connectOptions.getPassword())
      .locations(MIGRATIONS)
      // callbackd's history table lives in its own schema, beside the platform's tables.
      .schemas("callbackd")
      .defaultSchema("callbackd")
      .createSchemas(true)
      .placeholders(java.util.Map.of("runs_table", runsTable,
        // Seed values of callbackd.settings; start-up writes the configured ones again before any dispatcher runs.
        "first_delay_ms", String.valueOf(config.firstDelay().toMillis()),
        "lifetime_ms", String.valueOf(config.callbackLifetime().toMillis())))
      // Migrations applied by a newer release (a rolling upgrade in progress, or this build rolled back) are not an
      // error: validation passes over them and this build runs on the newer schema, which the migrations keep
      // compatible with the previous release. This is Flyway's default, stated here because start-up relies on it.
      .ignoreMigrationPatterns("*:future")
      .callbacks(new TimestamptzRunsBeforeV10(config.runsTable))
      .load();
    var result = flyway.migrate();
    MigrationInfoService info = flyway.info();
    SchemaVersion own = buildVersion(info.all());
    schemaVersion = own.toString();
    MigrationInfo current = info.current();
    String applied = current == null || current.getVersion() == null ? null : current.getVersion().getVersion();
    List<String> ahead = Arrays.stream(info.all())
      .filter(m -> m.getState() == MigrationState.FUTURE_SUCCESS && m.getVersion() != null)
      .map(m -> m.getVersion().getVersion())
      .toList();
    if (ahead.isEmpty()) {
      LOG.info("Database schema at version {}, this build's own ({} migrations applied now)", own,
        result.migrationsExecuted);
    } else {
      LOG.info("Database schema at version {}, ahead of this build's version {}: migration(s) {} were applied by a "
        + "newer release; this build runs on that schema ({} migrations applied now)", applied, own, ahead,
        result.migrationsExecuted);
    }
  }

  /** The highest versioned migration packaged in this build, whatever the database has applied. */
  static SchemaVersion buildVersion(MigrationInfo[] all) {
    return Arrays.stream(all)
      .filter(m -> m.isVersioned() && m.getVersion() != null)
      // Resolved: found in this build's migrations. Not the baseline marker, which is no migration of the build.
      .filter(m -> m.getState().isResolved() && m.getState() != MigrationState.BASELINE)
      .map(m -> SchemaVersion.parse(m.getVersion().getVersion()))
      .max(SchemaVersion::compareTo)
      .orElseThrow(() -> new IllegalStateException("no versioned migration found in " + MIGRATIONS));
  }

  /**
   * This build's own schema version: the highest migration packaged in it. Readiness expects the database at this
   * version or above (a newer release may have migrated further).
   */
  public String schemaVersion() {
    return schemaVersion;
  }

  public PgConnectOptions connectOptions() {
    return new PgConnectOptions(connectOptions);
  }

  @Override
  public void close() {
    if (embedded != null) {
      embedded.close();
    }
  }
}
