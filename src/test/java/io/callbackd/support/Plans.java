package io.callbackd.support;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/** PostgreSQL's plans as the plan tests read them: EXPLAIN (ANALYZE, BUFFERS) of a statement, its buffers, its nodes. */
public final class Plans {

  private Plans() {
  }

  public static JsonObject explain(Statement st, String execute) throws SQLException {
    return explained(st, execute).getJsonObject("Plan");
  }

  /** The whole of EXPLAIN (ANALYZE, BUFFERS)'s answer: the plan ("Plan") and its "Execution Time", among others. */
  public static JsonObject explained(Statement st, String execute) throws SQLException {
    try (ResultSet rs = st.executeQuery("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + execute)) {
      rs.next();
      return new JsonArray(rs.getString(1)).getJsonObject(0);
    }
  }

  /**
   * The shared buffers the statement's execution read. A node's counts include what ran beneath it, CTEs read
   * through a CTE Scan included; a data-modifying CTE that nothing reads runs after the main plan and is added.
   */
  public static long totalBuffers(JsonObject top) {
    Set<String> scanned = new HashSet<>();
    collectCteScans(top, scanned);
    long total = buffers(top);
    for (Object o : top.getJsonArray("Plans", new JsonArray())) {
      JsonObject child = (JsonObject) o;
      String name = child.getString("Subplan Name", "");
      if (name.startsWith("CTE ") && !scanned.contains(name.substring(4))) {
        total += buffers(child);
      }
    }
    return total;
  }

  public static long buffers(JsonObject node) {
    return node.getLong("Shared Hit Blocks", 0L) + node.getLong("Shared Read Blocks", 0L);
  }

  public static void collectCteScans(JsonObject node, Set<String> names) {
    if (node.containsKey("CTE Name")) {
      names.add(node.getString("CTE Name"));
    }
    for (Object o : node.getJsonArray("Plans", new JsonArray())) {
      collectCteScans((JsonObject) o, names);
    }
  }

  /** The plan's nodes, with the table and index each scan reads, rows and buffers, one per line. */
  public static String nodes(JsonObject node) {
    return nodes(node, "");
  }

  public static String nodes(JsonObject node, String indent) {
    StringBuilder out = new StringBuilder(indent).append(node.getString("Node Type"));
    if (node.containsKey("Relation Name")) {
      out.append(" on ").append(node.getString("Relation Name"));
    }
    if (node.containsKey("Index Name")) {
      out.append(" using ").append(node.getString("Index Name"));
    }
    if (node.containsKey("Subplan Name")) {
      out.append(" (").append(node.getString("Subplan Name")).append(')');
    }
    out.append(" rows=").append(node.getValue("Actual Rows")).append(" buffers=").append(buffers(node)).append('\n');
    for (Object o : node.getJsonArray("Plans", new JsonArray())) {
      out.append(nodes((JsonObject) o, indent + "  "));
    }
    return out.toString();
  }

  /** The node and every node beneath it, CTEs and subplans included. */
  public static List<JsonObject> all(JsonObject node) {
    List<JsonObject> out = new ArrayList<>();
    out.add(node);
    for (Object o : node.getJsonArray("Plans", new JsonArray())) {
      out.addAll(all((JsonObject) o));
    }
    return out;
  }

  /**
   * Index scans that ran more than once with an array in their condition ({@code = ANY}): PostgreSQL sorts such an
   * array again at every run of the scan, so that a probe per row with the whole batch's array costs the square of
   * the batch. Each as its relation, condition and number of runs.
   */
  public static List<String> repeatedArrayProbes(JsonObject plan) {
    return repeatedArray(plan, false);
  }

  /**
   * Of those, the scans that found rows and were looked up by the array alone: each run walks the index once per
   * element, so that a scan per row of a batch with the whole batch's array walks it the square of the batch.
   */
  public static List<String> repeatedArrayScans(JsonObject plan) {
    return repeatedArray(plan, true);
  }

  private static List<String> repeatedArray(JsonObject plan, boolean byArrayAloneWithRows) {
    List<String> found = new ArrayList<>();
    for (JsonObject node : all(plan)) {
      String cond = node.getString("Index Cond");
      if (cond == null || !cond.contains("= ANY") || node.getLong("Actual Loops", 0L) <= 1) {
        continue;
      }
      if (byArrayAloneWithRows && (cond.contains(" AND ") || node.getDouble("Actual Rows", 0.0) <= 0)) {
        continue;
      }
      found.add(node.getString("Relation Name") + " " + cond + " x" + node.getLong("Actual Loops"));
    }
    return found;
  }
}
