package io.callbackd.deploy;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.callbackd.config.CallbackdConfig;
import io.callbackd.config.Durations;
import io.callbackd.metrics.DeliveryMetrics;
import io.callbackd.metrics.Promtool;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.autoscaling.v2.ExternalMetricSource;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HPAScalingPolicy;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HPAScalingRules;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HorizontalPodAutoscaler;
import io.fabric8.kubernetes.api.model.autoscaling.v2.MetricSpec;
import io.fabric8.kubernetes.api.model.autoscaling.v2.MetricTarget;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import io.fabric8.openshift.api.model.monitoring.v1.PrometheusRule;
import io.fabric8.openshift.api.model.monitoring.v1.Rule;
import io.fabric8.openshift.api.model.monitoring.v1.RuleGroup;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.Yaml;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The kit scales on the queue: {@code hpa.yaml}'s External metrics, the prometheus-adapter rules that serve them and
 * the KEDA alternative use only series that callbackd registers, aggregate the shared queue gauges with max(), agree
 * with each other, and fit the rest of the kit (PodDisruptionBudget, PostgreSQL connections, the alert on the wait).
 * The queries are run by promtool's rule tests against series as three replicas report them.
 */
class AutoscalingManifestsTest {

  static final String ADAPTER_VALUES = "prometheus-adapter-values.yaml";
  static final String KEDA_SCALED_OBJECT = "keda-scaledobject.yaml";
  /** Files of k8s/ that kustomize does not apply: each the other half of, or an alternative to, hpa.yaml. */
  static final Set<String> NOT_APPLIED = Set.of(ADAPTER_VALUES, KEDA_SCALED_OBJECT);

  private static final Pattern SERIES_IN_QUERY = Pattern.compile("\\b(callbackd_[a-z_]+)\\b");
  private static final Pattern GATE = Pattern.compile(
    "max\\(callbackd_queue_oldest_pending_seconds\\{[^}]*}\\)\\s*>\\s*bool\\s+(\\d+)");

  private static Manifests k8s;
  private static HorizontalPodAutoscaler hpa;
  private static Set<String> exposed;
  private static String namespace;
  private static String job;
  private static JsonObject defaults;

  @BeforeAll
  static void load() throws Exception {
    k8s = Manifests.load();
    hpa = k8s.one(HorizontalPodAutoscaler.class);
    exposed = exposedSeries();
    namespace = String.valueOf(k8s.kustomization.get("namespace"));
    // Prometheus Operator names the job after the Service that the ServiceMonitor selects: the API Service.
    List<Service> api = k8s.all(Service.class).stream().filter(s -> !"None".equals(s.getSpec().getClusterIP()))
      .toList();
    assertEquals(1, api.size());
    job = api.get(0).getMetadata().getName();
    defaults = new JsonObject(Files.readString(Path.of(CallbackdConfig.DEFAULTS_PATH)));
  }

  /**
   * The series a scrape of callbackd's {@code /metrics} holds for callbackd's own meters: the registry that the
   * running service serves, with {@link DeliveryMetrics} registered on it as {@code Callbackd} does.
   */
  private static Set<String> exposedSeries() {
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    new DeliveryMetrics(registry);
    Set<String> out = new TreeSet<>();
    for (String line : registry.scrape().split("\n")) {
      if (line.startsWith("callbackd_")) {
        out.add(line.split("[{ ]", 2)[0]);
      }
    }
    assertTrue(out.contains(DeliveryMetrics.QUEUE_PENDING) && out.contains(DeliveryMetrics.QUEUE_OLDEST_PENDING),
      out.toString());
    return out;
  }

  // ---- the HPA -------------------------------------------------------------------------------------------------

  @Test
  void hpaScalesOnTheQueueWithCpuAsABackstopOnly() {
    Map<String, MetricSpec> external = externalMetrics();
    assertEquals(Set.of(DeliveryMetrics.QUEUE_OLDEST_PENDING, DeliveryMetrics.QUEUE_PENDING), external.keySet());
    for (Map.Entry<String, MetricSpec> e : external.entrySet()) {
      ExternalMetricSource source = e.getValue().getExternal();
      assertTrue(exposed.contains(e.getKey()), e.getKey() + " is a series callbackd exposes");
      assertEquals(Map.of("job", job), source.getMetric().getSelector().getMatchLabels(),
        e.getKey() + ": callbackd's job only");
    }
    // The wait is the same for the whole deployment: compared as it is. The pending count is divided by the replicas.
    MetricTarget wait = external.get(DeliveryMetrics.QUEUE_OLDEST_PENDING).getExternal().getTarget();
    assertEquals("Value", wait.getType());
    assertNull(wait.getAverageValue());
    MetricTarget pending = external.get(DeliveryMetrics.QUEUE_PENDING).getExternal().getTarget();
    assertEquals("AverageValue", pending.getType());
    assertNull(pending.getValue());

    for (MetricSpec m : hpa.getSpec().getMetrics()) {
      assertTrue(m.getType().equals("External") || m.getType().equals("Resource"), m.getType());
      if (m.getType().equals("Resource")) {
        assertEquals("cpu", m.getResource().getName());
        assertTrue(m.getResource().getTarget().getAverageUtilization() >= 70,
          "CPU only as a backstop, well above normal load: " + m.getResource().getTarget());
      }
    }
  }

  @Test
  void targetsFitTheQueuesTiming() throws Exception {
    double wait = waitTarget();
    // Healthy dispatchers claim a due callback within a poll interval, and the gauge is read every gauge interval
    // from a count of the deployment's made at most half an interval before: a target below those would scale on a
    // queue that is keeping up.
    long healthy = Durations.parse(defaults.getString("poll_interval")).toMillis()
      + Durations.parse(defaults.getString("queue_gauge_interval")).toMillis() * 3 / 2;
    assertTrue(wait * 1000 > 2 * healthy, "wait target " + wait + " s against " + healthy + " ms");
    // Replicas are added well before the wait pages someone.
    double alert = oldestPendingAlertThreshold();
    assertTrue(wait * 4 <= alert, "wait target " + wait + " s, alert at " + alert + " s");
    // The pending count counts once a due callback has waited longer than a healthy queue lets it, and before the wait
    // target itself is reached.
    int gate = gate(renderedAdapterQueries().get(DeliveryMetrics.QUEUE_PENDING));
    assertTrue(gate * 1000L > healthy && gate < wait, "gate " + gate + " s");
    // Pending per replica: more than a replica claims at once, or a queue that one replica drains adds replicas.
    double perReplica = pendingTarget();
    assertTrue(perReplica >= defaults.getInteger("max_in_flight"), "pending per replica " + perReplica);
  }

  @Test
  void replicasFitTheDisruptionBudgetAndPostgresConnections() throws Exception {
    Deployment deployment = k8s.one(Deployment.class);
    assertEquals("Deployment", hpa.getSpec().getScaleTargetRef().getKind());
    assertEquals(deployment.getMetadata().getName(), hpa.getSpec().getScaleTargetRef().getName());
    int min = hpa.getSpec().getMinReplicas();
    int max = hpa.getSpec().getMaxReplicas();
    assertEquals(3, min, "the size the PodDisruptionBudget and the cluster are planned for");
    assertEquals(deployment.getSpec().getReplicas(), min, "the Deployment starts at the HPA's floor");
    assertTrue(max > min);

    // A drain at the floor still leaves at least two replicas, and is possible at all.
    PodDisruptionBudget pdb = k8s.one(PodDisruptionBudget.class);
    if (pdb.getSpec().getMaxUnavailable() != null) {
      int unavailable = pdb.getSpec().getMaxUnavailable().getIntVal();
      assertTrue(unavailable >= 1 && min - unavailable >= 2, "maxUnavailable " + unavailable);
    } else {
      int available = pdb.getSpec().getMinAvailable().getIntVal();
      assertTrue(available >= 2 && available < min, "minAvailable " + available);
    }

    // The ConfigMap sizes PostgreSQL's connections for this maximum.
    String configmap = Files.readString(Manifests.DIR.resolve("configmap.yaml"));
    Matcher note = Pattern.compile("HPA's maxReplicas \\((\\d+)\\)").matcher(configmap);
    assertTrue(note.find(), "configmap.yaml's note on max_connections");
    assertEquals(max, Integer.parseInt(note.group(1)));
    assertNotNull(k8s.one(ConfigMap.class).getData().get("CALLBACKD_PG_POOL_SIZE"));
  }

  @Test
  void scaleDownIsSlowAndScaleUpBounded() {
    HPAScalingRules down = hpa.getSpec().getBehavior().getScaleDown();
    assertTrue(down.getStabilizationWindowSeconds() >= 300, "a drain's gaps do not remove replicas");
    assertFalse(down.getPolicies().isEmpty());
    for (HPAScalingPolicy p : down.getPolicies()) {
      assertEquals("Pods", p.getType());
      assertEquals(1, p.getValue(), "one replica at a time, as the PodDisruptionBudget");
      assertTrue(p.getPeriodSeconds() >= 60, "each removed pod drains first");
    }
    HPAScalingRules up = hpa.getSpec().getBehavior().getScaleUp();
    assertNotNull(up, "scale-up is bounded, not the default doubling every 15 s");
    assertFalse(up.getPolicies().isEmpty(), "scale-up has its own policies");
    for (HPAScalingPolicy p : up.getPolicies()) {
      assertEquals("Pods", p.getType());
      assertTrue(p.getValue() < hpa.getSpec().getMaxReplicas() - hpa.getSpec().getMinReplicas(),
        "not from the floor to the ceiling at once");
    }
  }

  // ---- prometheus-adapter --------------------------------------------------------------------------------------

  @Test
  @SuppressWarnings("unchecked")
  void adapterServesTheHpasMetricsFromExposedSeries() throws Exception {
    List<Map<String, Object>> rules = adapterRules();
    Set<String> served = new TreeSet<>();
    for (Map<String, Object> rule : rules) {
      String seriesQuery = String.valueOf(rule.get("seriesQuery"));
      Set<String> series = seriesIn(seriesQuery);
      assertEquals(1, series.size(), seriesQuery);
      String seriesName = series.iterator().next();
      assertTrue(exposed.contains(seriesName), "unknown series " + seriesName);
      Map<String, Object> name = (Map<String, Object>) rule.get("name");
      assertTrue(seriesName.matches(String.valueOf(name.get("matches"))), name.toString());
      served.add(String.valueOf(name.get("as")));
      // The HPA's namespace becomes a label matcher, so that other deployments' series stay out.
      Map<String, Object> overrides = (Map<String, Object>) ((Map<String, Object>) rule.get("resources"))
        .get("overrides");
      assertEquals(Map.of("resource", "namespace"), overrides.get("namespace"));

      String metricsQuery = String.valueOf(rule.get("metricsQuery"));
      for (String s : seriesIn(metricsQuery)) {
        assertTrue(exposed.contains(s), "unknown series " + s + " in " + metricsQuery);
      }
      assertShared(metricsQuery.replace("<<.Series>>", seriesName));
      // Every selector is narrowed to the HPA's namespace and selector.
      Matcher selectors = Pattern.compile("(<<\\.Series>>|callbackd_[a-z_]+)\\{([^}]*)}").matcher(metricsQuery);
      int count = 0;
      while (selectors.find()) {
        assertEquals("<<.LabelMatchers>>", selectors.group(2), metricsQuery);
        count++;
      }
      assertTrue(count >= 1, metricsQuery);
    }
    assertEquals(externalMetrics().keySet(), served, "the adapter serves exactly the HPA's External metrics");
  }

  /**
   * The queries as Prometheus runs them, over three replicas reporting the same gauges: the wait and the pending
   * count are the deployment's, not three times it; the pending count is 0 while no due callback waits longer than
   * the gate; and no value at all comes back when the gauges are missing, so that no autoscaler reads a 0.
   */
  @Test
  void queriesGiveTheDeploymentsValuesOverReplicas() throws Exception {
    Path promtool = Promtool.find();
    if (promtool == null) {
      return;
    }
    Map<String, String> queries = renderedAdapterQueries();
    int gate = gate(queries.get(DeliveryMetrics.QUEUE_PENDING));
    Path dir = Files.createTempDirectory("callbackd-autoscaling");
    StringBuilder rules = new StringBuilder("groups:\n  - name: autoscaling\n    rules:\n");
    for (Map.Entry<String, String> q : queries.entrySet()) {
      rules.append("      - record: autoscaler:").append(q.getKey()).append("\n        expr: '")
        .append(q.getValue().replace("'", "''")).append("'\n");
    }
    Files.writeString(dir.resolve("rules.yaml"), rules);
    Promtool.Result check =
      Promtool.run(List.of(promtool.toString(), "check", "rules", dir.resolve("rules.yaml").toString()), null);
    assertEquals(0, check.exitCode(), check.output());

    // Three replicas; another callbackd in another namespace with a larger queue, which must not count.
    StringBuilder series = new StringBuilder();
    for (String pod : List.of("callbackd-a", "callbackd-b", "callbackd-c")) {
      series.append(input(DeliveryMetrics.QUEUE_PENDING, namespace, pod, "9000 9000 9000 9000 _ _"));
      series.append(input(DeliveryMetrics.QUEUE_OLDEST_PENDING, namespace, pod,
        "45 " + gate + " 0 " + (gate + 1) + " _ _"));
    }
    series.append(input(DeliveryMetrics.QUEUE_PENDING, "other", "callbackd-x", "90000x5"));
    series.append(input(DeliveryMetrics.QUEUE_OLDEST_PENDING, "other", "callbackd-x", "900x5"));
    String wait = "autoscaler:" + DeliveryMetrics.QUEUE_OLDEST_PENDING;
    String pending = "autoscaler:" + DeliveryMetrics.QUEUE_PENDING;
    String test = "rule_files:\n  - rules.yaml\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n"
      + "    input_series:\n" + series
      + "    promql_expr_test:\n"
      + expect(wait, "0m", "45") + expect(pending, "0m", "9000")
      + expect(wait, "1m", String.valueOf(gate)) + expect(pending, "1m", "0")
      + expect(wait, "2m", "0") + expect(pending, "2m", "0")
      + expect(pending, "3m", "9000")
      // Gauges gone (every replica down or unscraped for longer than the lookback): no value, not 0.
      + expect(wait, "10m", null) + expect(pending, "10m", null);
    Files.writeString(dir.resolve("test.yaml"), test);
    Promtool.Result result =
      Promtool.run(List.of(promtool.toString(), "test", "rules", dir.resolve("test.yaml").toString()), null);
    assertEquals(0, result.exitCode(), test + "\n" + result.output());
  }

  // ---- KEDA ----------------------------------------------------------------------------------------------------

  @Test
  @SuppressWarnings("unchecked")
  void kedaAlternativeScalesAsTheHpaDoes() throws Exception {
    Map<String, Object> so = new Yaml().load(Files.readString(Manifests.DIR.resolve(KEDA_SCALED_OBJECT)));
    assertEquals("keda.sh/v1alpha1", so.get("apiVersion"));
    assertEquals("ScaledObject", so.get("kind"));
    Map<String, Object> metadata = (Map<String, Object>) so.get("metadata");
    assertEquals("callbackd", ((Map<String, Object>) metadata.get("labels")).get("app.kubernetes.io/name"));
    assertNull(metadata.get("namespace"), "the namespace comes from kustomization.yaml");
    Map<String, Object> spec = (Map<String, Object>) so.get("spec");
    // Fields of KEDA's ScaledObject: a misspelt one would be dropped by the API server, not refused.
    assertTrue(Set.of("scaleTargetRef", "minReplicaCount", "maxReplicaCount", "pollingInterval", "cooldownPeriod",
      "fallback", "advanced", "triggers").containsAll(spec.keySet()), spec.keySet().toString());
    assertTrue(Set.of("failureThreshold", "replicas", "behavior")
      .containsAll(((Map<String, Object>) spec.get("fallback")).keySet()));
    assertEquals(Set.of("horizontalPodAutoscalerConfig"), ((Map<String, Object>) spec.get("advanced")).keySet());
    Map<String, Object> target = (Map<String, Object>) spec.get("scaleTargetRef");
    assertEquals("Deployment", target.get("kind"));
    assertEquals(hpa.getSpec().getScaleTargetRef().getName(), target.get("name"));
    assertEquals(hpa.getSpec().getMinReplicas(), spec.get("minReplicaCount"));
    assertEquals(hpa.getSpec().getMaxReplicas(), spec.get("maxReplicaCount"));

    Map<String, Object> behavior = (Map<String, Object>) ((Map<String, Object>) ((Map<String, Object>)
      spec.get("advanced")).get("horizontalPodAutoscalerConfig")).get("behavior");
    assertEquals(new ObjectMapper().convertValue(hpa.getSpec().getBehavior(), Map.class), behavior,
      "the HPA's behaviour");

    // A fallback for when Prometheus or the gauges are missing: at least the floor, within the ceiling.
    Map<String, Object> fallback = (Map<String, Object>) spec.get("fallback");
    assertNotNull(fallback, "fallback");
    int replicas = (Integer) fallback.get("replicas");
    assertTrue(replicas >= hpa.getSpec().getMinReplicas() && replicas <= hpa.getSpec().getMaxReplicas());
    assertTrue((Integer) fallback.get("failureThreshold") >= 1);

    Map<String, String> renderedAdapter = renderedAdapterQueries();
    Map<String, MetricSpec> external = externalMetrics();
    Set<String> seen = new TreeSet<>();
    for (Map<String, Object> trigger : (List<Map<String, Object>>) spec.get("triggers")) {
      // KEDA refuses a fallback beside a CPU or memory trigger.
      assertEquals("prometheus", trigger.get("type"));
      assertTrue(Set.of("type", "name", "metricType", "metadata").containsAll(trigger.keySet()), trigger.toString());
      assertTrue(Set.of("serverAddress", "query", "threshold", "activationThreshold", "ignoreNullValues")
        .containsAll(((Map<String, Object>) trigger.get("metadata")).keySet()), trigger.toString());
      Map<String, Object> meta = (Map<String, Object>) trigger.get("metadata");
      String query = String.valueOf(meta.get("query"));
      for (String s : seriesIn(query)) {
        assertTrue(exposed.contains(s), "unknown series " + s + " in " + query);
      }
      assertShared(query);
      assertEquals("false", meta.get("ignoreNullValues"), "missing gauges are an error (fallback), not 0");
      // The same query the adapter runs for the HPA in this namespace, hence the same metric and target.
      String metric = renderedAdapter.entrySet().stream().filter(e -> normal(e.getValue()).equals(normal(query)))
        .map(Map.Entry::getKey).findFirst()
        .orElseThrow(() -> new AssertionError("not one of the adapter's queries for namespace " + namespace
          + " and job " + job + ": " + query));
      seen.add(metric);
      MetricTarget t = external.get(metric).getExternal().getTarget();
      assertEquals(t.getType(), trigger.get("metricType"), metric);
      String value = t.getType().equals("Value") ? t.getValue().getAmount() : t.getAverageValue().getAmount();
      assertEquals(Double.parseDouble(value), Double.parseDouble(String.valueOf(meta.get("threshold"))), metric);
    }
    assertEquals(external.keySet(), seen, "a trigger for each of the HPA's queue metrics");
  }

  // ---- kustomization and README --------------------------------------------------------------------------------

  @Test
  void alternativesAreNotAppliedAndAreDocumented() throws Exception {
    List<String> resources = Manifests.strings(k8s.kustomization.get("resources"));
    assertTrue(resources.contains("hpa.yaml"));
    String readme = Files.readString(Path.of("README.md"));
    for (String file : NOT_APPLIED) {
      assertTrue(Files.exists(Manifests.DIR.resolve(file)), file);
      assertFalse(resources.contains(file), file + " is applied separately, not by kustomize");
      assertTrue(readme.contains("| `" + file + "` |"), file + " has its row in the README's k8s/ table");
    }
  }

  @Test
  void readmeDescribesTheAutoscaling() throws Exception {
    String section = readmeSection("### Autoscaling");
    for (String metric : externalMetrics().keySet()) {
      assertTrue(section.contains("`" + metric + "`"), metric);
    }
    assertTrue(section.contains(Math.round(waitTarget()) + " s"), "the wait target");
    assertTrue(section.contains(String.valueOf(Math.round(pendingTarget()))), "the pending target");
    assertTrue(section.contains(gate(renderedAdapterQueries().get(DeliveryMetrics.QUEUE_PENDING)) + " s"), "the gate");
    assertTrue(section.contains(hpa.getSpec().getMinReplicas() + " and " + hpa.getSpec().getMaxReplicas()),
      "the replica range");
    assertTrue(section.contains("prometheus-adapter") && section.contains("KEDA"));
  }

  // ---- helpers -------------------------------------------------------------------------------------------------

  private static Map<String, MetricSpec> externalMetrics() {
    Map<String, MetricSpec> out = new LinkedHashMap<>();
    for (MetricSpec m : hpa.getSpec().getMetrics()) {
      if ("External".equals(m.getType())) {
        assertNull(out.put(m.getExternal().getMetric().getName(), m), "one External metric per name");
      }
    }
    return out;
  }

  private static double waitTarget() {
    return Double.parseDouble(externalMetrics().get(DeliveryMetrics.QUEUE_OLDEST_PENDING).getExternal().getTarget()
      .getValue().getAmount());
  }

  private static double pendingTarget() {
    return Double.parseDouble(externalMetrics().get(DeliveryMetrics.QUEUE_PENDING).getExternal().getTarget()
      .getAverageValue().getAmount());
  }

  @SuppressWarnings("unchecked")
  private static List<Map<String, Object>> adapterRules() throws Exception {
    Map<String, Object> values = new Yaml().load(Files.readString(Manifests.DIR.resolve(ADAPTER_VALUES)));
    return (List<Map<String, Object>>) ((Map<String, Object>) values.get("rules")).get("external");
  }

  /**
   * The adapter's queries as it sends them for the HPA: its namespace (kustomization.yaml's) and its metric's
   * selector as the label matchers. By served metric name.
   */
  @SuppressWarnings("unchecked")
  private static Map<String, String> renderedAdapterQueries() throws Exception {
    Map<String, String> out = new LinkedHashMap<>();
    Map<String, MetricSpec> external = externalMetrics();
    for (Map<String, Object> rule : adapterRules()) {
      String metric = String.valueOf(((Map<String, Object>) rule.get("name")).get("as"));
      String series = seriesIn(String.valueOf(rule.get("seriesQuery"))).iterator().next();
      // As prometheus-adapter builds them: the selector's labels, then the namespace.
      StringBuilder matchers = new StringBuilder();
      MetricSpec spec = external.get(metric);
      assertNotNull(spec, "the HPA uses " + metric);
      spec.getExternal().getMetric().getSelector().getMatchLabels()
        .forEach((k, v) -> matchers.append(k).append("=\"").append(v).append("\","));
      matchers.append("namespace=\"").append(namespace).append('"');
      out.put(metric, String.valueOf(rule.get("metricsQuery")).replace("<<.Series>>", series)
        .replace("<<.LabelMatchers>>", matchers).strip());
    }
    return out;
  }

  /** The shared queue gauges are taken with max() over the replicas, never summed. */
  private static void assertShared(String query) {
    assertFalse(query.contains("sum(") || query.contains("sum by") || query.contains("avg("), query);
    Matcher m = Pattern.compile("(\\w+)\\s*\\(\\s*(callbackd_queue_[a-z_]+)").matcher(query);
    int count = 0;
    while (m.find()) {
      assertEquals("max", m.group(1), m.group(2) + " in " + query);
      count++;
    }
    assertTrue(count >= 1, "the gauges are aggregated over the replicas: " + query);
  }

  private static int gate(String pendingQuery) {
    Matcher m = GATE.matcher(pendingQuery);
    assertTrue(m.find(), "the pending count is gated on the wait: " + pendingQuery);
    return Integer.parseInt(m.group(1));
  }

  private static Set<String> seriesIn(String expr) {
    Set<String> out = new TreeSet<>();
    Matcher m = SERIES_IN_QUERY.matcher(expr);
    while (m.find()) {
      out.add(m.group(1));
    }
    return out;
  }

  private static String normal(String query) {
    return query.replaceAll("\\s+", " ").strip();
  }

  private static double oldestPendingAlertThreshold() {
    for (RuleGroup group : k8s.one(PrometheusRule.class).getSpec().getGroups()) {
      for (Rule rule : group.getRules()) {
        String expr = String.valueOf(rule.getExpr().getValue());
        Matcher m = Pattern.compile("max\\(" + DeliveryMetrics.QUEUE_OLDEST_PENDING + "\\)\\s*>\\s*(\\d+)")
          .matcher(expr);
        if ("CallbackdOldestPendingTooOld".equals(rule.getAlert()) && m.find()) {
          return Double.parseDouble(m.group(1));
        }
      }
    }
    throw new AssertionError("no CallbackdOldestPendingTooOld alert on " + DeliveryMetrics.QUEUE_OLDEST_PENDING);
  }

  private static String readmeSection(String heading) throws Exception {
    List<String> lines = Files.readAllLines(Path.of("README.md"));
    StringBuilder out = new StringBuilder();
    boolean in = false;
    for (String line : lines) {
      if (line.startsWith("#")) {
        if (in) {
          break;
        }
        in = line.equals(heading);
      } else if (in) {
        out.append(line).append('\n');
      }
    }
    assertFalse(out.isEmpty(), "README has " + heading);
    return out.toString().replaceAll("\\s+", " ");
  }

  private static String input(String metric, String ns, String pod, String values) {
    return "      - series: '" + metric + "{namespace=\"" + ns + "\",job=\"" + job + "\",pod=\"" + pod + "\"}'\n"
      + "        values: '" + values + "'\n";
  }

  private static String expect(String record, String at, String value) {
    String out = "      - expr: " + record + "\n        eval_time: " + at + "\n        exp_samples:";
    if (value == null) {
      return out + " []\n";
    }
    return out + "\n          - labels: '" + record + "'\n            value: " + value + "\n";
  }
}
