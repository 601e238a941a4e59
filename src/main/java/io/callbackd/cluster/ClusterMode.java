package io.callbackd.cluster;

import com.hazelcast.config.Config;
import com.hazelcast.config.JoinConfig;
import com.hazelcast.config.NetworkConfig;
import io.callbackd.config.CallbackdConfig;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.eventbus.EventBusOptions;
import io.vertx.core.spi.VertxMetricsFactory;
import io.vertx.core.spi.VertxTracerFactory;
import io.vertx.spi.cluster.hazelcast.ConfigUtil;
import io.vertx.spi.cluster.hazelcast.HazelcastClusterManager;

import java.util.List;

/**
 * The clustered event bus ({@code CALLBACKD_CLUSTER=true} or {@code -cluster}): Vert.x nodes find each other through
 * Hazelcast, so JVM producers on any node can send {@code callbackd.run.completed}. Members are found by TCP/IP
 * ({@code CALLBACKD_CLUSTER_MEMBERS}) or, on Kubernetes, through the endpoints of a headless Service
 * ({@code CALLBACKD_CLUSTER_KUBERNETES_SERVICE}). Only this class refers to Hazelcast, and only cluster mode loads it.
 *
 * <p>The cluster carries event-bus traffic only: which callback goes where is coordinated by PostgreSQL (claims with
 * SKIP LOCKED and leases), never by the cluster.
 */
public final class ClusterMode {

  public static final String CLUSTER_NAME = "callbackd";

  private ClusterMode() {
  }

  public static Config hazelcastConfig(CallbackdConfig c) {
    Config hz = ConfigUtil.loadConfig();
    hz.setClusterName(CLUSTER_NAME);
    hz.setProperty("hazelcast.phone.home.enabled", "false");
    hz.setProperty("hazelcast.logging.type", "slf4j");
    hz.setProperty("hazelcast.shutdownhook.enabled", "false");
    // Hazelcast's own metrics (collected every few seconds, published over JMX) are read by nothing callbackd ships,
    // and cost every replica CPU while it is idle; callbackd's metrics are its Prometheus endpoint.
    hz.getMetricsConfig().setEnabled(false);
    NetworkConfig net = hz.getNetworkConfig();
    net.setPort(c.clusterPort).setPortAutoIncrement(false);
    if (!c.clusterHost.isEmpty()) {
      net.setPublicAddress(c.clusterHost + ":" + c.clusterPort);
      net.getInterfaces().setEnabled(true).addInterface(c.clusterHost);
      hz.setProperty("hazelcast.socket.bind.any", "false");
    }
    JoinConfig join = net.getJoin();
    join.getMulticastConfig().setEnabled(false);
    join.getAutoDetectionConfig().setEnabled(false);
    if (!c.clusterKubernetesService.isEmpty()) {
      join.getKubernetesConfig().setEnabled(true).setProperty("service-name", c.clusterKubernetesService)
        .setProperty("service-port", Integer.toString(c.clusterPort));
      if (!c.clusterKubernetesNamespace.isEmpty()) {
        join.getKubernetesConfig().setProperty("namespace", c.clusterKubernetesNamespace);
      }
    } else {
      List<String> members = c.clusterMembers.isEmpty()
        ? List.of((c.clusterHost.isEmpty() ? "127.0.0.1" : c.clusterHost) + ":" + c.clusterPort)
        : c.clusterMembers;
      join.getTcpIpConfig().setEnabled(true).setMembers(members);
    }
    return hz;
  }

  public static EventBusOptions eventBusOptions(CallbackdConfig c) {
    EventBusOptions bus = new EventBusOptions().setPort(c.clusterBusPort);
    if (!c.clusterHost.isEmpty()) {
      bus.setHost(c.clusterHost).setClusterPublicHost(c.clusterHost);
    }
    return bus;
  }

  /** Starts a clustered Vert.x joined to the other callbackd nodes (and to any producer configured alike). */
  public static Future<Vertx> start(CallbackdConfig c, VertxOptions options, VertxMetricsFactory metrics) {
    return start(c, options, metrics, null);
  }

  /** As above, Vert.x tracing with {@code tracer} (null: no tracing). */
  public static Future<Vertx> start(CallbackdConfig c, VertxOptions options, VertxMetricsFactory metrics,
                                    VertxTracerFactory tracer) {
    options.setEventBusOptions(eventBusOptions(c));
    var builder = Vertx.builder().with(options).withClusterManager(new HazelcastClusterManager(hazelcastConfig(c)));
    if (metrics != null) {
      builder.withMetrics(metrics);
    }
    if (tracer != null) {
      builder.withTracer(tracer);
    }
    return builder.buildClustered();
  }
}
