package io.callbackd.cluster;

import com.hazelcast.config.Config;
import com.hazelcast.config.JoinConfig;
import io.callbackd.config.CallbackdConfig;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * How a node finds the others, from the configuration: a headless Service's endpoints on Kubernetes (in a chosen
 * namespace or the pod's own), the listed members otherwise, this node alone when none are listed; never multicast
 * or Hazelcast's auto-detection, which would join whatever else answers on the network.
 */
class ClusterModeTest {

  private static CallbackdConfig config(JsonObject overrides) throws Exception {
    JsonObject defaults = new JsonObject(Files.readString(Path.of(CallbackdConfig.DEFAULTS_PATH)));
    return CallbackdConfig.fromMerged(defaults.mergeIn(overrides));
  }

  @Test
  void onKubernetesTheMembersAreTheHeadlessServicesEndpoints() throws Exception {
    Config hz = ClusterMode.hazelcastConfig(config(new JsonObject().put("cluster", true)
      .put("cluster_kubernetes_service", "callbackd-cluster").put("cluster_kubernetes_namespace", "webhooks")
      .put("cluster_port", 5801)));
    JoinConfig join = hz.getNetworkConfig().getJoin();
    assertTrue(join.getKubernetesConfig().isEnabled());
    assertEquals("callbackd-cluster", join.getKubernetesConfig().getProperty("service-name"));
    assertEquals("5801", join.getKubernetesConfig().getProperty("service-port"));
    assertEquals("webhooks", join.getKubernetesConfig().getProperty("namespace"));
    assertFalse(join.getTcpIpConfig().isEnabled());
    assertFalse(join.getMulticastConfig().isEnabled());
    assertFalse(join.getAutoDetectionConfig().isEnabled());
    assertEquals(5801, hz.getNetworkConfig().getPort());
  }

  @Test
  void withoutANamespaceThePodsOwnIsUsed() throws Exception {
    Config hz = ClusterMode.hazelcastConfig(config(new JsonObject().put("cluster", true)
      .put("cluster_kubernetes_service", "callbackd-cluster")));
    assertTrue(hz.getNetworkConfig().getJoin().getKubernetesConfig().isEnabled());
    assertNull(hz.getNetworkConfig().getJoin().getKubernetesConfig().getProperty("namespace"));
  }

  @Test
  void elsewhereTheListedMembersOrThisNodeAlone() throws Exception {
    JoinConfig listed = ClusterMode.hazelcastConfig(config(new JsonObject().put("cluster", true)
      .put("cluster_members", "10.0.0.5:5701,10.0.0.6:5701"))).getNetworkConfig().getJoin();
    assertTrue(listed.getTcpIpConfig().isEnabled());
    assertEquals(List.of("10.0.0.5:5701", "10.0.0.6:5701"), listed.getTcpIpConfig().getMembers());
    assertFalse(listed.getKubernetesConfig().isEnabled());
    assertFalse(listed.getMulticastConfig().isEnabled());
    assertFalse(listed.getAutoDetectionConfig().isEnabled());

    JoinConfig alone = ClusterMode.hazelcastConfig(config(new JsonObject().put("cluster", true)
      .put("cluster_port", 5901))).getNetworkConfig().getJoin();
    assertEquals(List.of("127.0.0.1:5901"), alone.getTcpIpConfig().getMembers());
  }
}
