package io.callbackd.bench;

import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.eventbus.EventBusOptions;
import io.vertx.core.eventbus.Message;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonObject;
import io.vertx.spi.cluster.hazelcast.HazelcastClusterManager;

import java.net.URI;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The event bus stage's reference, measured in the same run: the least any consumer of {@code callbackd.run.completed}
 * on the clustered bus can spend per event and still POST each run's payload. It takes callbackd's place in the
 * cluster (same member port, same Vert.x 5, Hazelcast, event loops and native transport as callbackd's defaults),
 * answers each whole run at once, and POSTs the run's payload (callbackd's fields) to its {@code callback_url} over a
 * keep-alive pool of 32 connections. No database, no retry, no signature, no history: what is left of callbackd's CPU
 * per event above this one's is what callbackd spends on making the callback durable and accounted for. An event
 * that is not a whole run (the producer's probe) is answered 404, as callbackd answers an unknown run. Runs until the
 * process is stopped (SIGTERM).
 */
final class EventBusReference {

  private EventBusReference() {
  }

  static void main(Map<String, String> args) throws InterruptedException {
    String host = args.getOrDefault("cluster-host", "127.0.0.1");
    VertxOptions options = new VertxOptions().setPreferNativeTransport(true)
      .setEventLoopPoolSize(Runtime.getRuntime().availableProcessors())
      .setEventBusOptions(new EventBusOptions().setHost(host).setClusterPublicHost(host).setPort(0));
    Vertx vertx = Util.await(Vertx.builder().with(options)
      .withClusterManager(new HazelcastClusterManager(EventBusProducer.hazelcast(args))).buildClustered(), 180);
    HttpClientAgent client = vertx.createHttpClient(new HttpClientOptions().setKeepAlive(true)
      .setConnectTimeout(10_000), new PoolOptions().setHttp1MaxSize(32).setMaxWaitQueueSize(10_000));
    AtomicLong posted = new AtomicLong();
    AtomicLong failed = new AtomicLong();
    Util.await(vertx.eventBus().<Object>consumer(EventBusProducer.ADDRESS, msg -> handle(msg, client, posted, failed))
      .completion(), 60);
    System.out.println("evbus reference: consuming " + EventBusProducer.ADDRESS + ", native transport "
      + vertx.isNativeTransportEnabled());
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      System.out.printf("evbus reference: %d POSTs answered, %d failed%n", posted.get(), failed.get());
      Util.await(vertx.close(), 30);
      stopped.countDown();
    }));
    stopped.await();
  }

  private static void handle(Message<Object> msg, HttpClientAgent client, AtomicLong posted, AtomicLong failed) {
    if (!(msg.body() instanceof JsonObject run) || run.getString("id") == null
      || run.getString("callback_url") == null) {
      msg.fail(404, "not a whole run");
      return;
    }
    String id = run.getString("id");
    String status = run.getString("status");
    msg.reply(new JsonObject().put("run_id", id).put("status", status));
    Buffer body = new JsonObject().put("run_id", id).put("status", status)
      .put("completed_at", Instant.now().toString()).put("metadata", run.getValue("metadata"))
      .put("agent_id", run.getString("agent_id")).put("stop_reason", run.getString("stop_reason")).toBuffer();
    URI url = URI.create(run.getString("callback_url"));
    client.request(new RequestOptions().setMethod(HttpMethod.POST).setHost(url.getHost()).setPort(url.getPort())
        .setURI(url.getRawPath()).putHeader("content-type", "application/json").setTimeout(10_000))
      .compose(req -> req.send(body))
      .compose(resp -> resp.body().map(b -> resp.statusCode()))
      .onComplete(ar -> (ar.succeeded() && ar.result() / 100 == 2 ? posted : failed).incrementAndGet());
  }
}
