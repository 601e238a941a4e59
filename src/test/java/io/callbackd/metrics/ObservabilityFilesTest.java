package io.callbackd.metrics;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.Yaml;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The Grafana dashboard and the alert rules shipped in {@code k8s/} use only metrics callbackd exposes. */
class ObservabilityFilesTest {

  /** Series names a scrape of callbackd produces (counters with _total, histograms with their suffixes). */
  private static final Set<String> SERIES = Set.of(
    "callbackd_deliveries_total", "callbackd_attempts_total",
    "callbackd_attempt_duration_seconds_bucket", "callbackd_attempt_duration_seconds_count",
    "callbackd_attempt_duration_seconds_sum", "callbackd_delivery_lag_seconds_bucket",
    "callbackd_delivery_lag_seconds_count", "callbackd_delivery_lag_seconds_sum",
    "callbackd_end_to_end_seconds_bucket", "callbackd_end_to_end_seconds_count", "callbackd_end_to_end_seconds_sum",
    "callbackd_queue_pending", "callbackd_queue_in_flight", "callbackd_queue_oldest_pending_seconds",
    "callbackd_circuit_breakers");

  private static Set<String> metricsIn(String expr) {
    Set<String> out = new TreeSet<>();
    Matcher m = Pattern.compile("\\b(callbackd_[a-z_]+)\\b").matcher(expr);
    while (m.find()) {
      out.add(m.group(1));
    }
    return out;
  }

  @Test
  void dashboardPanelsQueryExposedMetrics() throws Exception {
    JsonObject dashboard = new JsonObject(Files.readString(Path.of("k8s/grafana-dashboard.json")));
    assertEquals("callbackd", dashboard.getString("uid"));
    Set<String> used = new TreeSet<>();
    JsonArray panels = dashboard.getJsonArray("panels");
    for (int i = 0; i < panels.size(); i++) {
      JsonObject panel = panels.getJsonObject(i);
      JsonArray targets = panel.getJsonArray("targets");
      assertFalse(targets.isEmpty(), panel.getString("title"));
      for (int t = 0; t < targets.size(); t++) {
        Set<String> names = metricsIn(targets.getJsonObject(t).getString("expr"));
        assertFalse(names.isEmpty(), panel.getString("title"));
        for (String n : names) {
          assertTrue(SERIES.contains(n), "unknown metric " + n + " in panel " + panel.getString("title"));
        }
        used.addAll(names);
      }
    }
    // Throughput by outcome, attempt results, lag and duration percentiles, queue depth, oldest pending, breakers.
    assertTrue(used.containsAll(List.of("callbackd_deliveries_total", "callbackd_attempts_total",
      "callbackd_delivery_lag_seconds_bucket", "callbackd_attempt_duration_seconds_bucket", "callbackd_queue_pending",
      "callbackd_queue_oldest_pending_seconds", "callbackd_circuit_breakers")), used.toString());
  }

  @Test
  @SuppressWarnings("unchecked")
  void alertRulesUseExposedMetricsAndPassPromtool() throws Exception {
    Map<String, Object> rule = new Yaml().load(Files.readString(Path.of("k8s/prometheus-rules.yaml")));
    assertEquals("monitoring.coreos.com/v1", rule.get("apiVersion"));
    assertEquals("PrometheusRule", rule.get("kind"));
    Map<String, Object> spec = (Map<String, Object>) rule.get("spec");
    Set<String> alerts = new TreeSet<>();
    for (Map<String, Object> group : (List<Map<String, Object>>) spec.get("groups")) {
      for (Map<String, Object> r : (List<Map<String, Object>>) group.get("rules")) {
        for (String n : metricsIn(String.valueOf(r.get("expr")))) {
          assertTrue(SERIES.contains(n), "unknown metric " + n + " in " + r);
        }
        if (r.containsKey("alert")) {
          alerts.add((String) r.get("alert"));
        }
      }
    }
    assertTrue(alerts.containsAll(List.of("CallbackdCallbacksFailing", "CallbackdOldestPendingTooOld",
      "CallbackdNotReady", "CallbackdManyBreakersOpen")), alerts.toString());

    Path promtool = Promtool.find();
    if (promtool != null) {
      // promtool reads plain rule files: the PrometheusRule's spec is one.
      Path plain = Files.createTempFile("callbackd-rules", ".yaml");
      Files.writeString(plain, new Yaml().dump(spec));
      Promtool.Result r = Promtool.run(List.of(promtool.toString(), "check", "rules", plain.toString()), null);
      assertEquals(0, r.exitCode(), r.output());
    }
  }
}
