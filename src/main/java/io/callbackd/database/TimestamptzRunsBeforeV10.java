package io.callbackd.database;

import org.flywaydb.core.api.callback.Callback;
import org.flywaydb.core.api.callback.Context;
import org.flywaydb.core.api.callback.Event;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

/**
 * Lets migration V10 (released, so not to be edited) apply to a platform's runs table whose {@code completed_at} is
 * {@code timestamp with time zone}: just before V10, adds the {@code callbackd.payload} overload that V10's
 * carry-over statement then resolves to ({@code db/support/payload_for_timestamptz_runs.sql}). Nothing happens for a
 * table without time zone, nor on a database that applied V10 already.
 */
final class TimestamptzRunsBeforeV10 implements Callback {

  private static final String SQL_RESOURCE = "/db/support/payload_for_timestamptz_runs.sql";

  private final String schema;
  private final String table;

  TimestamptzRunsBeforeV10(String configuredRunsTable) {
    this.schema = RunsTable.schema(configuredRunsTable);
    this.table = RunsTable.table(configuredRunsTable);
  }

  @Override
  public boolean supports(Event event, Context context) {
    return event == Event.BEFORE_EACH_MIGRATE && context.getMigrationInfo() != null
      && context.getMigrationInfo().getVersion() != null
      && "10".equals(context.getMigrationInfo().getVersion().getVersion());
  }

  @Override
  public boolean canHandleInTransaction(Event event, Context context) {
    return true;
  }

  @Override
  public void handle(Event event, Context context) {
    try (PreparedStatement ps = context.getConnection().prepareStatement("SELECT data_type FROM"
      + " information_schema.columns WHERE table_schema = ? AND table_name = ? AND column_name = 'completed_at'")) {
      ps.setString(1, schema);
      ps.setString(2, table);
      try (ResultSet rs = ps.executeQuery()) {
        if (!rs.next() || !RunsTimestamps.WITH_TIME_ZONE.equals(rs.getString(1))) {
          return;
        }
      }
      try (Statement st = context.getConnection().createStatement()) {
        st.execute(sql());
      }
    } catch (SQLException e) {
      throw new IllegalStateException("could not prepare migration V10 for the runs table " + schema + "." + table
        + " (completed_at with time zone): " + e.getMessage(), e);
    }
  }

  @Override
  public String getCallbackName() {
    return "timestamptz runs table before V10";
  }

  private static String sql() {
    try (InputStream in = TimestamptzRunsBeforeV10.class.getResourceAsStream(SQL_RESOURCE)) {
      if (in == null) {
        throw new IllegalStateException(SQL_RESOURCE + " is not packaged");
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
