package io.callbackd.deploy;

import io.callbackd.Callbackd;
import io.callbackd.config.CallbackdConfig;
import io.callbackd.config.ConfigException;
import io.callbackd.config.Durations;
import io.callbackd.metrics.HealthRoutes;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.EnvFromSource;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HTTPGetAction;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.PodSecurityContext;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecurityContext;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HorizontalPodAutoscaler;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyEgressRule;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyIngressRule;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyPeer;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyPort;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import io.fabric8.kubernetes.api.model.rbac.PolicyRule;
import io.fabric8.kubernetes.api.model.rbac.Role;
import io.fabric8.kubernetes.api.model.rbac.RoleBinding;
import io.fabric8.kubernetes.api.model.rbac.Subject;
import io.fabric8.openshift.api.model.monitoring.v1.Endpoint;
import io.fabric8.openshift.api.model.monitoring.v1.PrometheusRule;
import io.fabric8.openshift.api.model.monitoring.v1.Rule;
import io.fabric8.openshift.api.model.monitoring.v1.RuleGroup;
import io.fabric8.openshift.api.model.monitoring.v1.ServiceMonitor;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The container image and the Kubernetes manifests of {@code k8s/} agree with the code: configuration keys, ports,
 * health and metrics routes, shutdown timing, and the README's run command. Every manifest that kustomize applies is
 * parsed into its fabric8 model class, strictly (see {@link Manifests}).
 */
class KubernetesManifestsTest {

  private static final String NAME_LABEL = "app.kubernetes.io/name";
  private static final String APP = "callbackd";
  /** The settings that belong in the Secret, and nowhere else. */
  private static final Set<String> SECRET_SETTINGS =
    Set.of("CALLBACKD_API_TOKENS", "CALLBACKD_SIGNING_SECRETS", "CALLBACKD_PG_URL");
  /** How long Main's shutdown waits beyond shutdown_grace (closing the pool, PostgreSQL and Vert.x). */
  private static final Duration SHUTDOWN_MARGIN = Duration.ofSeconds(15);

  private static JsonObject defaults;
  private static Manifests k8s;
  private static Deployment deployment;
  private static PodSpec pod;
  private static Container container;

  @BeforeAll
  static void load() throws Exception {
    defaults = new JsonObject(Files.readString(Path.of(CallbackdConfig.DEFAULTS_PATH)));
    k8s = Manifests.load();
    deployment = k8s.one(Deployment.class);
    pod = deployment.getSpec().getTemplate().getSpec();
    assertEquals(1, pod.getContainers().size(), "one container");
    container = pod.getContainers().get(0);
  }

  // ---- kustomization ------------------------------------------------------------------------------------------

  @Test
  @SuppressWarnings("unchecked")
  void kustomizationListsEveryFileOfK8s() throws Exception {
    Set<String> listed = new TreeSet<>(Manifests.strings(k8s.kustomization.get("resources")));
    List<Map<String, Object>> generators = (List<Map<String, Object>>) k8s.kustomization.get("configMapGenerator");
    Map<String, Object> dashboard = null;
    for (Map<String, Object> generator : generators == null ? List.<Map<String, Object>>of() : generators) {
      for (String file : Manifests.strings(generator.get("files"))) {
        listed.add(file.replaceFirst("^[^=]*=", ""));
        if (file.endsWith("grafana-dashboard.json")) {
          dashboard = generator;
        }
      }
    }
    Set<String> present;
    try (Stream<Path> files = Files.list(Manifests.DIR)) {
      present = files.map(p -> p.getFileName().toString()).filter(f -> !f.equals(Manifests.KUSTOMIZATION))
        .collect(Collectors.toCollection(TreeSet::new));
    }
    // prometheus-adapter's rules and the KEDA alternative to hpa.yaml are applied separately (see
    // AutoscalingManifestsTest).
    listed.addAll(AutoscalingManifestsTest.NOT_APPLIED);
    assertEquals(present, listed,
      "every file of k8s/ (but kustomization.yaml) is a resource, a generator input or applied separately");
    assertTrue(listed.contains("prometheus-rules.yaml"));
    assertNotNull(dashboard, "grafana-dashboard.json is turned into a ConfigMap");
    assertEquals("1", String.valueOf(Manifests.generatorLabels(dashboard).get("grafana_dashboard")));
    assertEquals(APP, Manifests.generatorLabels(dashboard).get(NAME_LABEL));
  }

  @Test
  @SuppressWarnings("unchecked")
  void kustomizationSetsTheDeploymentsImage() {
    List<Map<String, Object>> images = (List<Map<String, Object>>) k8s.kustomization.get("images");
    assertNotNull(images, "images: in kustomization.yaml");
    assertTrue(images.stream().anyMatch(i -> container.getImage().equals(i.get("name"))),
      "kustomization.yaml sets the image " + container.getImage());
  }

  @Test
  void everyKindIsThereOnceAndLabelled() {
    Map<String, Integer> kinds = new HashMap<>();
    for (Manifests.Manifest m : k8s.manifests) {
      HasMetadata r = m.resource();
      kinds.merge(r.getKind(), 1, Integer::sum);
      assertEquals(APP, r.getMetadata().getLabels() == null ? null : r.getMetadata().getLabels().get(NAME_LABEL),
        m.file() + ": label " + NAME_LABEL);
      assertNull(r.getMetadata().getNamespace(), m.file() + ": the namespace comes from kustomization.yaml");
    }
    Map<String, Integer> expected = new HashMap<>();
    for (String kind : List.of("Deployment", "ConfigMap", "Secret", "PodDisruptionBudget", "HorizontalPodAutoscaler",
      "ServiceMonitor", "NetworkPolicy", "ServiceAccount", "Role", "RoleBinding", "PrometheusRule")) {
      expected.put(kind, 1);
    }
    expected.put("Service", 2);
    assertEquals(expected, kinds);
    // Parsed into the classes of the API versions we mean.
    assertEquals("autoscaling/v2", k8s.one(HorizontalPodAutoscaler.class).getApiVersion());
    assertEquals("policy/v1", k8s.one(PodDisruptionBudget.class).getApiVersion());
    assertEquals("monitoring.coreos.com/v1", k8s.one(ServiceMonitor.class).getApiVersion());
  }

  // ---- configuration ------------------------------------------------------------------------------------------

  @Test
  void everyCallbackdVariableIsAConfigurationKey() {
    Map<String, String> where = new LinkedHashMap<>();
    for (EnvVar e : container.getEnv()) {
      where.put(e.getName(), "the Deployment's env");
    }
    for (String k : k8s.one(ConfigMap.class).getData().keySet()) {
      where.put(k, "the ConfigMap");
    }
    for (String k : secretKeys()) {
      where.put(k, "the Secret");
    }
    where.forEach((name, source) -> {
      if (name.startsWith(CallbackdConfig.ENV_PREFIX)) {
        String key = name.substring(CallbackdConfig.ENV_PREFIX.length()).toLowerCase(Locale.ROOT);
        assertTrue(defaults.containsKey(key) && name.equals(name.toUpperCase(Locale.ROOT)),
          name + " in " + source + " is not CALLBACKD_ + a key of conf/config.json");
      }
    });
    // envFrom turns every key of the ConfigMap and the Secret into a variable: they must all be settings.
    for (String k : k8s.one(ConfigMap.class).getData().keySet()) {
      assertTrue(k.startsWith(CallbackdConfig.ENV_PREFIX), "ConfigMap key " + k);
    }
    for (String k : secretKeys()) {
      assertTrue(k.startsWith(CallbackdConfig.ENV_PREFIX), "Secret key " + k);
    }
    // No CALLBACKD_SERVICE_HOST, CALLBACKD_PORT... injected for the Service named callbackd.
    assertEquals(Boolean.FALSE, pod.getEnableServiceLinks(), "enableServiceLinks: false");
    assertTrue(container.getEnvFrom().stream().anyMatch(e -> e.getConfigMapRef() != null
      && k8s.one(ConfigMap.class).getMetadata().getName().equals(e.getConfigMapRef().getName())), "envFrom the ConfigMap");
    assertTrue(container.getEnvFrom().stream().anyMatch(e -> e.getSecretRef() != null
      && k8s.one(Secret.class).getMetadata().getName().equals(e.getSecretRef().getName())), "envFrom the Secret");
    assertEquals(container.getEnvFrom().size(), container.getEnvFrom().stream()
      .filter(e -> e.getConfigMapRef() != null || e.getSecretRef() != null).count());
    for (EnvFromSource e : container.getEnvFrom()) {
      assertNull(e.getPrefix(), "no prefix: the keys are the variable names");
    }
  }

  @Test
  void secretHoldsExactlyTheSecretSettingsAsExamples() {
    Secret secret = k8s.one(Secret.class);
    assertEquals(new TreeSet<>(SECRET_SETTINGS), new TreeSet<>(secretKeys()));
    assertTrue(secret.getData() == null || secret.getData().isEmpty(), "example values in stringData, readable");
    secret.getStringData().forEach((k, v) -> assertTrue(v.toUpperCase(Locale.ROOT).contains("EXAMPLE"),
      k + " is marked as an example value"));
    Set<String> plain = new TreeSet<>(k8s.one(ConfigMap.class).getData().keySet());
    container.getEnv().forEach(e -> plain.add(e.getName()));
    for (String s : SECRET_SETTINGS) {
      assertFalse(plain.contains(s), s + " belongs in the Secret only");
    }
  }

  @Test
  void manifestSettingsAreAcceptedAndUneditedExamplesAreRefused() {
    Map<String, Object> env = new LinkedHashMap<>(k8s.one(ConfigMap.class).getData());
    for (EnvVar e : container.getEnv()) {
      env.put(e.getName(), e.getValue() != null ? e.getValue() : "10.1.2.3"); // downward API: a pod IP, a namespace
    }
    Map<String, Object> real = new LinkedHashMap<>(env);
    real.put("CALLBACKD_PG_URL", "postgresql://callbackd:secret@postgres:5432/callbackd");
    real.put("CALLBACKD_API_TOKENS", "token-1,token-2");
    real.put("CALLBACKD_SIGNING_SECRETS", "whsec_" + Base64.getEncoder().encodeToString(new byte[32]));
    CallbackdConfig config = CallbackdConfig.fromMerged(defaults.copy().mergeIn(new JsonObject(real)));
    assertTrue(config.cluster);
    assertEquals("json", config.logFormat);

    // Applied without editing, the example Secret must not give a running service with a published token or key.
    Map<String, String> examples = k8s.one(Secret.class).getStringData();
    for (String key : List.of("CALLBACKD_API_TOKENS", "CALLBACKD_SIGNING_SECRETS")) {
      Map<String, Object> withExample = new LinkedHashMap<>(real);
      withExample.put(key, examples.get(key));
      ConfigException e = assertThrows(ConfigException.class,
        () -> CallbackdConfig.fromMerged(defaults.copy().mergeIn(new JsonObject(withExample))), key);
      assertTrue(e.getMessage().contains(key), e.getMessage());
    }
  }

  // ---- ports, probes, shutdown --------------------------------------------------------------------------------

  @Test
  void containerPortsAreTheConfiguredPorts() {
    Map<String, Integer> ports = new HashMap<>();
    for (ContainerPort p : container.getPorts()) {
      ports.put(p.getName(), p.getContainerPort());
      assertEquals("TCP", p.getProtocol() == null ? "TCP" : p.getProtocol());
    }
    assertEquals(Map.of("http", defaults.getInteger("http_port"), "hazelcast", defaults.getInteger("cluster_port"),
      "eventbus", defaults.getInteger("cluster_bus_port")), ports);
    assertEquals(8080, ports.get("http"));
    // Where the Deployment sets a port, it is the same number.
    assertEnvEquals("CALLBACKD_HTTP_PORT", ports.get("http"));
    assertEnvEquals("CALLBACKD_CLUSTER_PORT", ports.get("hazelcast"));
    assertEnvEquals("CALLBACKD_CLUSTER_BUS_PORT", ports.get("eventbus"));
  }

  @Test
  void probesUseTheHealthRoutesOnTheHttpPort() {
    assertProbe(container.getLivenessProbe(), HealthRoutes.LIVE, "liveness");
    assertProbe(container.getReadinessProbe(), HealthRoutes.READY, "readiness");
    if (container.getStartupProbe() != null) {
      assertProbe(container.getStartupProbe(), HealthRoutes.LIVE, "startup");
    }
  }

  @Test
  void terminationGracePeriodOutlastsTheShutdownDrain() {
    Duration grace = Durations.parse(String.valueOf(effectiveSetting("shutdown_grace")));
    Duration preStop = Duration.ZERO;
    if (container.getLifecycle() != null && container.getLifecycle().getPreStop() != null
      && container.getLifecycle().getPreStop().getExec() != null) {
      List<String> cmd = container.getLifecycle().getPreStop().getExec().getCommand();
      assertEquals("sleep", cmd.get(0), "preStop only waits");
      preStop = Duration.ofSeconds(Long.parseLong(cmd.get(1)));
    }
    Duration needed = preStop.plus(grace).plus(SHUTDOWN_MARGIN);
    long period = pod.getTerminationGracePeriodSeconds();
    assertTrue(period > grace.toSeconds(), "terminationGracePeriodSeconds " + period + " > shutdown_grace " + grace);
    assertTrue(period > needed.toSeconds(), "terminationGracePeriodSeconds " + period + " leaves room for preStop "
      + preStop + " + shutdown_grace " + grace + " + " + SHUTDOWN_MARGIN + " of closing");
  }

  @Test
  void resourcesAndVolumes() {
    assertEquals(3, deployment.getSpec().getReplicas());
    assertEquals(deployment.getSpec().getSelector().getMatchLabels(),
      subset(deployment.getSpec().getTemplate().getMetadata().getLabels(),
        deployment.getSpec().getSelector().getMatchLabels().keySet()));
    assertNotNull(container.getResources().getRequests().get("cpu"));
    assertNotNull(container.getResources().getRequests().get("memory"));
    assertNotNull(container.getResources().getLimits().get("memory"));
    assertTrue(isEmpty(container.getCommand()), "the image's ENTRYPOINT (java -jar) runs unchanged");
    assertTrue(isEmpty(container.getArgs()), "the image's ENTRYPOINT (java -jar) runs unchanged");

    // Read-only root: /tmp and the data directory are emptyDir volumes.
    Map<String, Volume> volumes = pod.getVolumes().stream().collect(Collectors.toMap(Volume::getName, v -> v));
    Map<String, String> mounts = new HashMap<>();
    for (VolumeMount m : container.getVolumeMounts()) {
      assertNotNull(volumes.get(m.getName()), "volume " + m.getName());
      assertNotNull(volumes.get(m.getName()).getEmptyDir(), m.getName() + " is an emptyDir");
      mounts.put(m.getMountPath(), m.getName());
    }
    assertTrue(mounts.containsKey("/tmp"), "/tmp is writable");
    String dataDir = String.valueOf(effectiveSetting("data_dir"));
    assertTrue(dataDir.startsWith("/"), "CALLBACKD_DATA_DIR is absolute in the Deployment: " + dataDir);
    assertTrue(mounts.containsKey(dataDir), "the data directory " + dataDir + " is writable");
  }

  @Test
  void runsAsNonRootWithAReadOnlyRootFilesystem() throws Exception {
    PodSecurityContext podSecurity = pod.getSecurityContext();
    SecurityContext security = container.getSecurityContext();
    assertEquals(Boolean.TRUE, podSecurity.getRunAsNonRoot());
    assertEquals("RuntimeDefault", podSecurity.getSeccompProfile().getType());
    assertEquals(Boolean.TRUE, security.getReadOnlyRootFilesystem());
    assertEquals(Boolean.FALSE, security.getAllowPrivilegeEscalation());
    assertNotEquals(Boolean.TRUE, security.getPrivileged());
    assertEquals(List.of("ALL"), security.getCapabilities().getDrop());
    assertTrue(isEmpty(security.getCapabilities().getAdd()), "no capability added");
    assertNotEquals(Boolean.FALSE, security.getRunAsNonRoot());
    Long uid = security.getRunAsUser() != null ? security.getRunAsUser() : podSecurity.getRunAsUser();
    assertNotNull(uid, "a numeric user");
    assertNotEquals(0L, uid);
    // The same user as the image's.
    assertEquals(uid.toString(), Dockerfile.read().user().split(":")[0]);
  }

  // ---- Services, cluster, monitoring ---------------------------------------------------------------------------

  @Test
  void apiServiceServesHttpOnPort80() {
    Service api = apiService();
    assertNotEquals("None", api.getSpec().getClusterIP());
    assertSelectsPods(api.getSpec().getSelector(), "the API Service");
    assertEquals(1, api.getSpec().getPorts().size());
    ServicePort http = api.getSpec().getPorts().get(0);
    assertEquals("http", http.getName());
    assertEquals(80, http.getPort());
    assertEquals(defaults.getInteger("http_port"), containerPort(http.getTargetPort()));
  }

  @Test
  void headlessServiceIsTheClusterDiscoveryService() {
    Service headless = k8s.named(Service.class, String.valueOf(env("CALLBACKD_CLUSTER_KUBERNETES_SERVICE")));
    assertEquals("None", headless.getSpec().getClusterIP());
    assertEquals(Boolean.TRUE, headless.getSpec().getPublishNotReadyAddresses());
    assertSelectsPods(headless.getSpec().getSelector(), "the headless Service");
    Map<String, Integer> ports = new HashMap<>();
    for (ServicePort p : headless.getSpec().getPorts()) {
      ports.put(p.getName(), p.getPort());
      assertEquals(p.getPort(), containerPort(p.getTargetPort()), p.getName() + " reaches the same container port");
    }
    // Hazelcast's discovery takes the port named "hazelcast" from the endpoints.
    assertEquals(Map.of("hazelcast", defaults.getInteger("cluster_port"),
      "eventbus", defaults.getInteger("cluster_bus_port")), ports);

    assertEquals("true", env("CALLBACKD_CLUSTER"));
    assertEquals("status.podIP", fieldRef("CALLBACKD_CLUSTER_HOST"));
    assertEquals("metadata.namespace", fieldRef("CALLBACKD_CLUSTER_KUBERNETES_NAMESPACE"));
  }

  @Test
  void serviceAccountIsBoundToTheDiscoveryRole() {
    ServiceAccount account = k8s.named(ServiceAccount.class, pod.getServiceAccountName());
    assertNotEquals(Boolean.FALSE, account.getAutomountServiceAccountToken());
    assertNotEquals(Boolean.FALSE, pod.getAutomountServiceAccountToken(), "Hazelcast needs the token");
    RoleBinding binding = k8s.one(RoleBinding.class);
    assertEquals("Role", binding.getRoleRef().getKind());
    assertEquals("rbac.authorization.k8s.io", binding.getRoleRef().getApiGroup());
    Role role = k8s.named(Role.class, binding.getRoleRef().getName());
    Object namespace = k8s.kustomization.get("namespace");
    boolean bound = false;
    for (Subject s : binding.getSubjects()) {
      if ("ServiceAccount".equals(s.getKind()) && account.getMetadata().getName().equals(s.getName())) {
        bound = s.getNamespace() == null || s.getNamespace().equals(namespace);
      }
    }
    assertTrue(bound, "the RoleBinding binds " + role.getMetadata().getName() + " to " + account.getMetadata().getName());

    Map<String, Set<String>> granted = new HashMap<>();
    for (PolicyRule rule : role.getRules()) {
      for (String group : rule.getApiGroups()) {
        for (String resource : rule.getResources()) {
          granted.computeIfAbsent(group + "/" + resource, r -> new TreeSet<>()).addAll(rule.getVerbs());
        }
      }
    }
    Set<String> read = Set.of("get", "list", "watch");
    assertEquals(Set.of("/endpoints", "/pods", "/services", "discovery.k8s.io/endpointslices"), granted.keySet());
    granted.forEach((resource, verbs) -> assertEquals(read, verbs, resource + " is read-only"));
  }

  @Test
  void serviceMonitorScrapesTheMetricsRoute() {
    ServiceMonitor monitor = k8s.one(ServiceMonitor.class);
    Map<String, String> selector = monitor.getSpec().getSelector().getMatchLabels();
    List<Service> selected = k8s.all(Service.class).stream()
      .filter(s -> s.getMetadata().getLabels().entrySet().containsAll(selector.entrySet())).toList();
    assertEquals(List.of(apiService()), selected, "the ServiceMonitor selects the API Service only");
    assertEquals(1, monitor.getSpec().getEndpoints().size());
    Endpoint endpoint = monitor.getSpec().getEndpoints().get(0);
    assertEquals(Callbackd.METRICS_PATH, endpoint.getPath());
    assertEquals("http", endpoint.getPort());
    assertTrue(apiService().getSpec().getPorts().stream().anyMatch(p -> "http".equals(p.getName())));
  }

  @Test
  void alertRulesNameTheJobAndPodsOfTheseManifests() {
    // Prometheus Operator names the job after the Service; the pods of a Deployment are named after it.
    Set<String> jobs = new TreeSet<>();
    Set<String> podPatterns = new TreeSet<>();
    for (RuleGroup group : k8s.one(PrometheusRule.class).getSpec().getGroups()) {
      for (Rule rule : group.getRules()) {
        String expr = String.valueOf(rule.getExpr().getValue());
        collect(Pattern.compile("job=\"([^\"]+)\""), expr, jobs);
        collect(Pattern.compile("pod=~\"([^\"]+)\""), expr, podPatterns);
      }
    }
    assertEquals(Set.of(apiService().getMetadata().getName()), jobs);
    String podName = deployment.getMetadata().getName() + "-7d9c8b6f5d-x2x7q";
    for (String p : podPatterns) {
      assertTrue(podName.matches(p), p + " matches the Deployment's pods");
    }
  }

  // ---- availability and network --------------------------------------------------------------------------------

  @Test
  void disruptionBudgetAndAutoscaler() {
    PodDisruptionBudget pdb = k8s.one(PodDisruptionBudget.class);
    assertSelectsPods(pdb.getSpec().getSelector().getMatchLabels(), "the PodDisruptionBudget");
    assertTrue(pdb.getSpec().getMaxUnavailable() != null || pdb.getSpec().getMinAvailable() != null);

    // The autoscaler, its metrics and how it fits the budget: AutoscalingManifestsTest.
    assertEquals(deployment.getMetadata().getName(), k8s.one(HorizontalPodAutoscaler.class).getSpec()
      .getScaleTargetRef().getName());
  }

  @Test
  void networkPolicyAllowsOnlyWhatCallbackdNeeds() {
    NetworkPolicy policy = k8s.one(NetworkPolicy.class);
    assertSelectsPods(policy.getSpec().getPodSelector().getMatchLabels(), "the NetworkPolicy");
    assertEquals(Set.of("Ingress", "Egress"), Set.copyOf(policy.getSpec().getPolicyTypes()));
    String http = "TCP/" + defaults.getInteger("http_port");
    String hazelcast = "TCP/" + defaults.getInteger("cluster_port");
    String bus = "TCP/" + defaults.getInteger("cluster_bus_port");

    Map<String, List<List<NetworkPolicyPeer>>> ingress = new HashMap<>();
    for (NetworkPolicyIngressRule rule : policy.getSpec().getIngress()) {
      assertFalse(isEmpty(rule.getPorts()), "every ingress rule names its ports");
      for (String port : ports(rule.getPorts())) {
        ingress.computeIfAbsent(port, p -> new ArrayList<>()).add(rule.getFrom());
      }
    }
    assertEquals(Set.of(http, hazelcast, bus), ingress.keySet());
    for (List<NetworkPolicyPeer> from : ingress.get(http)) {
      assertEquals(1, from.size());
      assertNotNull(from.get(0).getNamespaceSelector(), "the API from any namespace");
      assertTrue(from.get(0).getNamespaceSelector().getMatchLabels() == null
        || from.get(0).getNamespaceSelector().getMatchLabels().isEmpty());
    }
    for (String port : List.of(hazelcast, bus)) {
      for (List<NetworkPolicyPeer> from : ingress.get(port)) {
        assertOnlyCallbackdPods(from, "ingress " + port);
      }
    }

    Map<String, List<List<NetworkPolicyPeer>>> egress = new HashMap<>();
    for (NetworkPolicyEgressRule rule : policy.getSpec().getEgress()) {
      assertFalse(isEmpty(rule.getPorts()), "every egress rule names its ports");
      for (String port : ports(rule.getPorts())) {
        egress.computeIfAbsent(port, p -> new ArrayList<>()).add(rule.getTo());
      }
    }
    assertEquals(Set.of("TCP/80", "TCP/443", "TCP/5432", "UDP/53", "TCP/53", hazelcast, bus), egress.keySet());
    for (String port : List.of(hazelcast, bus)) {
      for (List<NetworkPolicyPeer> to : egress.get(port)) {
        assertOnlyCallbackdPods(to, "egress " + port);
      }
    }
  }

  // ---- image ---------------------------------------------------------------------------------------------------

  @Test
  void dockerfileBuildsAndRunsTheReadmeJar() throws Exception {
    Dockerfile docker = Dockerfile.read();
    assertTrue(docker.from().size() >= 2, "a build stage and a runtime stage: " + docker.from());
    String user = docker.user();
    assertNotNull(user, "USER");
    String name = user.split(":")[0];
    assertFalse(name.equals("root") || name.equals("0"), "USER " + user);
    assertTrue(name.matches("\\d+"), "a numeric USER, which runAsNonRoot can check: " + user);
    assertTrue(docker.exposed().containsAll(List.of(defaults.getInteger("http_port"),
      defaults.getInteger("cluster_port"), defaults.getInteger("cluster_bus_port"))), "EXPOSE " + docker.exposed());

    String readme = Files.readString(Path.of("README.md"));
    Matcher run = Pattern.compile("java -jar target/(\\S+\\.jar)").matcher(readme);
    assertTrue(run.find(), "the README's run command");
    String jar = run.group(1);
    assertEquals("callbackd.jar", jar);
    List<String> command = docker.command();
    assertEquals(3, command.size(), "java -jar <jar>, flags in JAVA_TOOL_OPTIONS: " + command);
    assertEquals(List.of("java", "-jar"), command.subList(0, 2));
    assertTrue(command.get(2).endsWith("/" + jar), command.toString());
    assertTrue(docker.copiesToRuntime("target/" + jar, command.get(2)), "the built jar is copied to " + command.get(2));
    String toolOptions = docker.env().getOrDefault("JAVA_TOOL_OPTIONS", "");
    assertTrue(toolOptions.contains("-XX:MaxRAMPercentage="), toolOptions);
    assertTrue(toolOptions.contains("-XX:+ExitOnOutOfMemoryError"), toolOptions);
    // The image's data directory is the one the Deployment mounts.
    assertEquals(String.valueOf(effectiveSetting("data_dir")), docker.env().get("CALLBACKD_DATA_DIR"));
    // Started as root where user namespaces are forbidden, the embedded PostgreSQL runs as the image's own account,
    // the one USER names and the data directory belongs to.
    String account = docker.env().get("CALLBACKD_EMBEDDED_PG_USER");
    assertNotNull(account, "CALLBACKD_EMBEDDED_PG_USER");
    String image = String.join("\n", docker.lastStage());
    assertTrue(Pattern.compile("useradd [^\\n]*--uid " + name + " [^\\n]*\\b" + account + "\\b").matcher(image).find(),
      "the image creates the account " + account + " with the uid of USER " + user);
  }

  // ---- helpers -------------------------------------------------------------------------------------------------

  private static List<String> secretKeys() {
    Secret secret = k8s.one(Secret.class);
    List<String> keys = new ArrayList<>();
    if (secret.getStringData() != null) {
      keys.addAll(secret.getStringData().keySet());
    }
    if (secret.getData() != null) {
      keys.addAll(secret.getData().keySet());
    }
    return keys;
  }

  private static Service apiService() {
    List<Service> api = k8s.all(Service.class).stream().filter(s -> !"None".equals(s.getSpec().getClusterIP())).toList();
    assertEquals(1, api.size(), "one API Service");
    return api.get(0);
  }

  /** A variable set in the Deployment's env by value, or null. */
  private static String env(String name) {
    return container.getEnv().stream().filter(e -> e.getName().equals(name)).map(EnvVar::getValue).findFirst()
      .orElse(null);
  }

  private static String fieldRef(String name) {
    EnvVar var = container.getEnv().stream().filter(e -> e.getName().equals(name)).findFirst()
      .orElseThrow(() -> new AssertionError(name + " is set in the Deployment"));
    assertNotNull(var.getValueFrom(), name + " comes from the downward API");
    return var.getValueFrom().getFieldRef().getFieldPath();
  }

  /** The value a pod sees for a key: the Deployment's env, else the ConfigMap, else conf/config.json. */
  private static Object effectiveSetting(String key) {
    String name = CallbackdConfig.ENV_PREFIX + key.toUpperCase(Locale.ROOT);
    String value = env(name);
    if (value == null) {
      value = k8s.one(ConfigMap.class).getData().get(name);
    }
    return value != null ? value : defaults.getValue(key);
  }

  private static void assertEnvEquals(String name, int port) {
    String value = env(name);
    if (value != null) {
      assertEquals(String.valueOf(port), value, name);
    }
    String configured = k8s.one(ConfigMap.class).getData().get(name);
    if (configured != null) {
      assertEquals(String.valueOf(port), configured, name + " in the ConfigMap");
    }
  }

  private static void assertProbe(Probe probe, String path, String what) {
    assertNotNull(probe, what + " probe");
    HTTPGetAction get = probe.getHttpGet();
    assertNotNull(get, what + " probe is an HTTP GET");
    assertEquals(path, get.getPath(), what + " probe path");
    assertEquals(defaults.getInteger("http_port"), containerPort(get.getPort()), what + " probe port");
  }

  /** A port number, or the number of the container port with that name. */
  private static Integer containerPort(IntOrString port) {
    if (port.getIntVal() != null) {
      return port.getIntVal();
    }
    return container.getPorts().stream().filter(p -> port.getStrVal().equals(p.getName()))
      .map(ContainerPort::getContainerPort).findFirst()
      .orElseThrow(() -> new AssertionError("no container port named " + port.getStrVal()));
  }

  private static void assertSelectsPods(Map<String, String> selector, String what) {
    assertNotNull(selector, what + " has a selector");
    assertFalse(selector.isEmpty(), what + " has a selector");
    Map<String, String> podLabels = deployment.getSpec().getTemplate().getMetadata().getLabels();
    assertTrue(podLabels.entrySet().containsAll(selector.entrySet()), what + " selects callbackd's pods");
  }

  private static void assertOnlyCallbackdPods(List<NetworkPolicyPeer> peers, String what) {
    assertFalse(isEmpty(peers), what + " is limited to callbackd's pods");
    for (NetworkPolicyPeer peer : peers) {
      assertNull(peer.getNamespaceSelector(), what);
      assertNull(peer.getIpBlock(), what);
      assertNotNull(peer.getPodSelector(), what);
      assertEquals(Map.of(NAME_LABEL, APP), peer.getPodSelector().getMatchLabels(), what);
    }
  }

  private static List<String> ports(List<NetworkPolicyPort> ports) {
    List<String> out = new ArrayList<>();
    for (NetworkPolicyPort p : ports) {
      assertNotNull(p.getPort(), "a port number");
      assertNull(p.getEndPort(), "no port ranges");
      Integer number = p.getPort().getIntVal() != null ? p.getPort().getIntVal() : containerPort(p.getPort());
      out.add((p.getProtocol() == null ? "TCP" : p.getProtocol()) + "/" + number);
    }
    return out;
  }

  private static boolean isEmpty(List<?> list) {
    return list == null || list.isEmpty();
  }

  private static Map<String, String> subset(Map<String, String> map, Set<String> keys) {
    Map<String, String> out = new HashMap<>();
    for (String k : keys) {
      if (map.containsKey(k)) {
        out.put(k, map.get(k));
      }
    }
    return out;
  }

  private static void collect(Pattern pattern, String text, Set<String> into) {
    Matcher m = pattern.matcher(text);
    while (m.find()) {
      into.add(m.group(1));
    }
  }

  /** The instructions of the Dockerfile that the test reads (continuation lines joined, comments dropped). */
  record Dockerfile(List<String> from, List<String> lastStage) {

    static Dockerfile read() throws Exception {
      String text = Files.readString(Path.of("Dockerfile")).replaceAll("\\\\\\r?\\n", " ");
      List<String> from = new ArrayList<>();
      List<String> stage = new ArrayList<>();
      for (String line : text.split("\\r?\\n")) {
        String l = line.strip();
        if (l.isEmpty() || l.startsWith("#")) {
          continue;
        }
        if (keyword(l).equals("FROM")) {
          from.add(l);
          stage = new ArrayList<>();
        }
        stage.add(l);
      }
      return new Dockerfile(from, stage);
    }

    private static String keyword(String instruction) {
      return instruction.split("\\s+", 2)[0].toUpperCase(Locale.ROOT);
    }

    private List<String> args(String keyword) {
      List<String> out = new ArrayList<>();
      for (String l : lastStage) {
        if (keyword(l).equals(keyword)) {
          out.add(l.split("\\s+", 2)[1].strip());
        }
      }
      return out;
    }

    /** The runtime stage's last USER. */
    String user() {
      List<String> users = args("USER");
      return users.isEmpty() ? null : users.get(users.size() - 1);
    }

    List<Integer> exposed() {
      List<Integer> out = new ArrayList<>();
      for (String a : args("EXPOSE")) {
        for (String p : a.split("\\s+")) {
          out.add(Integer.parseInt(p.replaceFirst("/tcp$", "")));
        }
      }
      return out;
    }

    /** ENTRYPOINT followed by CMD, both in exec (JSON) form. */
    List<String> command() {
      List<String> out = new ArrayList<>();
      for (String keyword : List.of("ENTRYPOINT", "CMD")) {
        List<String> found = args(keyword);
        if (!found.isEmpty()) {
          String last = found.get(found.size() - 1);
          assertTrue(last.startsWith("["), keyword + " in exec form, so that java gets SIGTERM: " + last);
          new JsonArray(last).forEach(o -> out.add(String.valueOf(o)));
        }
      }
      return out;
    }

    Map<String, String> env() {
      Map<String, String> out = new HashMap<>();
      Pattern pair = Pattern.compile("([A-Za-z_][A-Za-z0-9_]*)=(\"[^\"]*\"|\\S+)");
      for (String a : args("ENV")) {
        Matcher m = pair.matcher(a);
        while (m.find()) {
          out.put(m.group(1), m.group(2).replaceAll("^\"|\"$", ""));
        }
      }
      return out;
    }

    /** A COPY --from=<build stage> of the built jar to the path the command runs. */
    boolean copiesToRuntime(String built, String target) {
      for (String a : args("COPY")) {
        String[] parts = a.split("\\s+");
        if (a.startsWith("--from=") && parts.length >= 3 && parts[parts.length - 2].endsWith(built)
          && (parts[parts.length - 1].equals(target) || target.startsWith(parts[parts.length - 1]))) {
          return true;
        }
      }
      return false;
    }
  }
}
