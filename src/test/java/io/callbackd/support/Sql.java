package io.callbackd.support;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Plain JDBC for tests: reads rows back the way an operator would with psql, and writes as a platform would. */
public final class Sql {

  private final String jdbcUrl;

  public Sql(String pgUrl) {
    this.jdbcUrl = TestPostgres.jdbcUrl(pgUrl);
  }

  public List<Map<String, Object>> query(String sql, Object... params) {
    try (Connection c = DriverManager.getConnection(jdbcUrl); PreparedStatement ps = c.prepareStatement(sql)) {
      for (int i = 0; i < params.length; i++) {
        ps.setObject(i + 1, params[i]);
      }
      try (ResultSet rs = ps.executeQuery()) {
        return rows(rs);
      }
    } catch (SQLException e) {
      throw new IllegalStateException(e);
    }
  }

  public Map<String, Object> one(String sql, Object... params) {
    List<Map<String, Object>> rows = query(sql, params);
    if (rows.size() != 1) {
      throw new IllegalStateException("expected one row, got " + rows.size() + " for " + sql);
    }
    return rows.get(0);
  }

  public long count(String sql, Object... params) {
    return ((Number) one(sql, params).values().iterator().next()).longValue();
  }

  public int update(String sql, Object... params) {
    try (Connection c = DriverManager.getConnection(jdbcUrl); PreparedStatement ps = c.prepareStatement(sql)) {
      for (int i = 0; i < params.length; i++) {
        ps.setObject(i + 1, params[i]);
      }
      return ps.executeUpdate();
    } catch (SQLException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * One statement run as {@code role} ({@code SET ROLE} first, on the same connection): a platform's own database
   * user, with only the rights the test granted it.
   */
  public int updateAs(String role, String sql, Object... params) {
    try (Connection c = DriverManager.getConnection(jdbcUrl)) {
      try (java.sql.Statement st = c.createStatement()) {
        st.execute("SET ROLE \"" + role.replace("\"", "\"\"") + "\"");
      }
      try (PreparedStatement ps = c.prepareStatement(sql)) {
        for (int i = 0; i < params.length; i++) {
          ps.setObject(i + 1, params[i]);
        }
        return ps.executeUpdate();
      }
    } catch (SQLException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Runs {@code setup} statements and then {@code query} on one connection (for session state such as PREPARE). */
  public List<Map<String, Object>> inOneSession(List<String> setup, String query) {
    try (Connection c = DriverManager.getConnection(jdbcUrl); java.sql.Statement st = c.createStatement()) {
      for (String s : setup) {
        st.execute(s);
      }
      try (ResultSet rs = st.executeQuery(query)) {
        return rows(rs);
      }
    } catch (SQLException e) {
      throw new IllegalStateException(e);
    }
  }

  private static List<Map<String, Object>> rows(ResultSet rs) throws SQLException {
    ResultSetMetaData md = rs.getMetaData();
    List<Map<String, Object>> rows = new ArrayList<>();
    while (rs.next()) {
      Map<String, Object> row = new LinkedHashMap<>();
      for (int i = 1; i <= md.getColumnCount(); i++) {
        row.put(md.getColumnLabel(i), rs.getObject(i));
      }
      rows.add(row);
    }
    return rows;
  }
}
