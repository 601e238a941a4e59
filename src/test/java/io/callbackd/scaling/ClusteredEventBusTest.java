package io.callbackd.scaling;

import io.callbackd.Callbackd;
import io.callbackd.cluster.ClusterMode;
import io.callbackd.config.CallbackdConfig;
import io.callbackd.ingest.RunCompletedConsumerVerticle;
import io.callbackd.support.Await;
import io.callbackd.support.CallbackdProcess;
import io.callbackd.support.RunningCallbackd;
import io.callbackd.support.TestPostgres;
import io.callbackd.support.TestReceiver;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.eventbus.Message;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/** Two clustered nodes on 127.0.0.1: a producer on one node reaches callbackd on the other. */
class ClusteredEventBusTest {

  private static final Duration WAIT = Duration.ofSeconds(60);

  private static CallbackdConfig nodeConfig(String pgUrl, int port, int otherPort) throws Exception {
    JsonObject merged = new JsonObject(Files.readString(Path.of("conf/config.json")))
      .mergeIn(RunningCallbackd.fastSettings())
      .put("pg_url", pgUrl)
      .put("cluster", true)
      .put("cluster_host", "127.0.0.1")
      .put("cluster_port", port)
      .put("cluster_bus_port", 0)
      .put("cluster_members", "127.0.0.1:" + port + ",127.0.0.1:" + otherPort);
    return CallbackdConfig.fromMerged(merged);
  }

  @Test
  void aProducerOnAnotherNodeSendsRunCompleted() throws Exception {
    String pgUrl = TestPostgres.newDatabase();
    int portA = CallbackdProcess.freePort();
    int portB = CallbackdProcess.freePort();
    CallbackdConfig a = nodeConfig(pgUrl, portA, portB);
    CallbackdConfig b = nodeConfig(pgUrl, portB, portA);
    Vertx nodeA = Await.result(ClusterMode.start(a, new VertxOptions(), null), WAIT);
    Vertx nodeB = null;
    Callbackd app = null;
    try {
      app = Await.result(Callbackd.start(nodeA, a), WAIT);
      // Hazelcast's own metrics collector is off in the running member (nothing reads it; it costs CPU when idle).
      com.hazelcast.core.HazelcastInstance member = ((io.vertx.spi.cluster.hazelcast.HazelcastClusterManager)
        ((io.vertx.core.internal.VertxInternal) nodeA).clusterManager()).getHazelcastInstance();
      assertFalse(member.getConfig().getMetricsConfig().isEnabled());
      nodeB = Await.result(ClusterMode.start(b, new VertxOptions(), null), WAIT);
      try (TestReceiver receiver = new TestReceiver(nodeB)) {
        JsonObject run = new JsonObject().put("id", "run-cluster-1").put("agent_id", "agent-c").put("status", "completed")
          .put("callback_url", receiver.url("/cluster"));
        Vertx producer = nodeB;
        // The consumer is registered on node A only; the clustered event bus carries the request and the reply.
        Await.until("node B sees the consumer of node A", WAIT, () -> {
          try {
            Message<Object> reply = producer.eventBus().request(RunCompletedConsumerVerticle.ADDRESS, run)
              .toCompletionStage().toCompletableFuture().get(5, java.util.concurrent.TimeUnit.SECONDS);
            return "run-cluster-1".equals(((JsonObject) reply.body()).getString("run_id"));
          } catch (Exception e) {
            return false;
          }
        });
        Await.until("delivered", WAIT, () -> receiver.count("/cluster") == 1);
        assertEquals("agent-c", receiver.received("/cluster").get(0).json().getString("agent_id"));
      }
    } finally {
      if (app != null) {
        Await.result(app.stop(), WAIT);
      }
      Await.result(nodeA.close(), WAIT);
      if (nodeB != null) {
        Await.result(nodeB.close(), WAIT);
      }
    }
  }
}
