package io.callbackd.faults;

import io.callbackd.delivery.CallbackSender;
import io.callbackd.support.Await;
import io.callbackd.support.RunningCallbackd;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.NetServer;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Receivers that misbehave in every way: each attempt ends recorded, memory and connections stay bounded. */
@ExtendWith(VertxExtension.class)
class MisbehavingReceiversTest {

  private static final Duration WAIT = Duration.ofSeconds(30);
  private static Vertx vertx;
  private static RunningCallbackd callbackd;
  private static final List<Object> servers = new ArrayList<>();

  @BeforeAll
  static void start(Vertx v) {
    vertx = v;
    // One attempt each: with a schedule of 0s an attempt has one request timeout after the terminal update to start.
    callbackd = new RunningCallbackd(v, new JsonObject().put("retry_delays", "0s").put("request_timeout", "1s")
      .put("breaker_failures", 100000).put("max_in_flight_per_destination", 3));
  }

  @AfterAll
  static void stop() {
    callbackd.close();
    for (Object s : servers) {
      if (s instanceof HttpServer) {
        Await.result(((HttpServer) s).close(), WAIT);
      } else {
        Await.result(((NetServer) s).close(), WAIT);
      }
    }
  }

  private static int http(io.vertx.core.Handler<io.vertx.core.http.HttpServerRequest> handler) {
    HttpServer s = Await.result(vertx.createHttpServer().requestHandler(handler).listen(0, "127.0.0.1"), WAIT);
    servers.add(s);
    return s.actualPort();
  }

  private static int tcp(io.vertx.core.Handler<io.vertx.core.net.NetSocket> handler) {
    NetServer s = Await.result(vertx.createNetServer().connectHandler(handler).listen(0, "127.0.0.1"), WAIT);
    servers.add(s);
    return s.actualPort();
  }

  /** Delivers one callback to the URL and returns its single recorded attempt, once it has failed or succeeded. */
  private static JsonObject onlyAttempt(String url) {
    String id = callbackd.completeRun(url, null);
    Await.until("finished", WAIT, () -> List.of("delivered", "failed").contains(callbackd.callbackState(id)));
    JsonArray attempts = callbackd.get("/v1/runs/" + id + "/attempts").json().getJsonArray("attempts");
    assertEquals(1, attempts.size(), attempts.encode());
    return attempts.getJsonObject(0);
  }

  @Test
  void acceptsTheConnectionAndNeverAnswers() {
    int port = tcp(socket -> socket.handler(data -> { }));
    JsonObject a = onlyAttempt("http://127.0.0.1:" + port + "/x");
    assertEquals("timeout after 1s", a.getString("error"));
    assertNull(a.getInteger("status_code"));
  }

  @Test
  void resetsTheConnection() {
    int port = tcp(socket -> socket.handler(data -> socket.close()));
    JsonObject a = onlyAttempt("http://127.0.0.1:" + port + "/x");
    assertNull(a.getInteger("status_code"));
    assertTrue(a.getString("error").startsWith("connection"), a.getString("error"));
  }

  @Test
  void answersWithGarbageInsteadOfHttp() {
    int port = tcp(socket -> socket.handler(data -> socket.write("\u0000\u0001garbage, not HTTP at all\r\n\r\n")
      .onComplete(v -> socket.close())));
    JsonObject a = onlyAttempt("http://127.0.0.1:" + port + "/x");
    assertNull(a.getInteger("status_code"));
    assertNotNull(a.getString("error"));
  }

  @Test
  void answersWithAGigabyteBodyThatIsNeverBuffered() {
    // The test JVM has a 768 MiB heap: buffering this body would fail with OutOfMemoryError.
    long size = 1024L * 1024 * 1024;
    Buffer chunk = Buffer.buffer(new byte[1024 * 1024]);
    int port = http(req -> {
      HttpServerResponse resp = req.response().setStatusCode(200).putHeader("content-length", Long.toString(size));
      AtomicInteger sent = new AtomicInteger();
      Runnable[] pump = new Runnable[1];
      pump[0] = () -> {
        while (!resp.writeQueueFull() && sent.get() < 1024) {
          sent.incrementAndGet();
          resp.write(chunk.copy());
        }
        if (sent.get() >= 1024) {
          resp.end();
        } else {
          resp.drainHandler(v -> pump[0].run());
        }
      };
      pump[0].run();
    });
    String id = callbackd.completeRun("http://127.0.0.1:" + port + "/big", null);
    Await.until("finished", WAIT, () -> List.of("delivered", "failed").contains(callbackd.callbackState(id)));
    JsonObject a = callbackd.get("/v1/runs/" + id + "/attempts").json().getJsonArray("attempts").getJsonObject(0);
    // Whether the gigabyte streamed through in time or the deadline cut it, the answer was its status line: a 200,
    // delivered; only the first 4 KiB were ever kept.
    assertEquals("delivered", callbackd.callbackState(id));
    assertEquals(200, a.getInteger("status_code"));
    assertEquals(CallbackSender.RESPONSE_EXCERPT_BYTES, a.getString("response_excerpt").length());
  }

  @Test
  void answers200OnlyAfterAMinute() {
    int port = http(req -> vertx.setTimer(60_000, t -> req.response().setStatusCode(200).end()));
    JsonObject a = onlyAttempt("http://127.0.0.1:" + port + "/late");
    assertEquals("timeout after 1s", a.getString("error"));
    assertTrue(a.getInteger("duration_ms") < 5000, "the deadline holds: " + a.getInteger("duration_ms"));
  }

  @Test
  void tricklesItsAnswerPastTheDeadline() {
    // Headers, then one byte of a long body every 100 ms: never silent for as long as the idle timeout, never done.
    // The status line said 200: delivered (a failure would send it again), the body read so far kept.
    AtomicInteger open = new AtomicInteger();
    AtomicInteger closed = new AtomicInteger();
    int port = tcp(socket -> {
      open.incrementAndGet();
      long[] drip = {-1};
      socket.closeHandler(v -> {
        closed.incrementAndGet();
        vertx.cancelTimer(drip[0]);
      });
      socket.handler(data -> {
        if (drip[0] < 0) {
          socket.write("HTTP/1.1 200 OK\r\ncontent-length: 1000000\r\n\r\n");
          drip[0] = vertx.setPeriodic(100, t -> socket.write("x"));
        }
      });
    });
    JsonObject a = onlyAttempt("http://127.0.0.1:" + port + "/drip");
    assertEquals(200, a.getInteger("status_code"));
    assertNull(a.getString("error"));
    assertTrue(a.getString("response_excerpt").startsWith("x"), a.encode());
    assertTrue(a.getInteger("duration_ms") < 5000, "the deadline holds: " + a.getInteger("duration_ms"));
    // The deadline closed the connection: the receiver does not keep it, or a place in the pool, by trickling.
    Await.until("the trickling connection is closed", WAIT, () -> open.get() == 1 && closed.get() == 1);
  }

  @Test
  void answers200ThenBreaksTheConnectionMidBody() {
    int port = tcp(socket -> socket.handler(data -> socket.write("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nok so")
      .onComplete(v -> socket.close())));
    String id = callbackd.completeRun("http://127.0.0.1:" + port + "/cut", null);
    Await.until("finished", WAIT, () -> List.of("delivered", "failed").contains(callbackd.callbackState(id)));
    // The receiver said 200: it has the callback, whatever became of the rest of its answer.
    assertEquals("delivered", callbackd.callbackState(id));
    JsonObject a = callbackd.get("/v1/runs/" + id + "/attempts").json().getJsonArray("attempts").getJsonObject(0);
    assertEquals(200, a.getInteger("status_code"));
  }

  @Test
  void redirectsInALoop() {
    AtomicInteger hits = new AtomicInteger();
    int[] port = new int[1];
    port[0] = http(req -> {
      hits.incrementAndGet();
      req.response().setStatusCode(302).putHeader("location", "http://127.0.0.1:" + port[0] + "/loop").end();
    });
    JsonObject a = onlyAttempt("http://127.0.0.1:" + port[0] + "/loop");
    assertEquals(302, a.getInteger("status_code"));
    assertEquals("HTTP 302", a.getString("error"));
    assertEquals(1, hits.get(), "the redirect was not followed");
  }

  @Test
  void aSlowReceiverGetsNoMoreConnectionsThanTheLimit() {
    AtomicInteger open = new AtomicInteger();
    AtomicInteger maxOpen = new AtomicInteger();
    HttpServer s = Await.result(vertx.createHttpServer()
      .connectionHandler(conn -> {
        maxOpen.accumulateAndGet(open.incrementAndGet(), Math::max);
        conn.closeHandler(v -> open.decrementAndGet());
      })
      .requestHandler(req -> vertx.setTimer(200, t -> req.response().setStatusCode(204).end()))
      .listen(0, "127.0.0.1"), WAIT);
    servers.add(s);
    List<String> ids = new ArrayList<>();
    // Two waves of three: the second starts well within the second a single-attempt callback has to start.
    for (int i = 0; i < 6; i++) {
      ids.add(callbackd.completeRun("http://127.0.0.1:" + s.actualPort() + "/slow", null));
    }
    // Whether the second wave still fits in its callbacks' single-attempt lifetime depends on the machine's load;
    // what the limit guarantees does not.
    for (String id : ids) {
      Await.until("finished", WAIT, () -> List.of("delivered", "failed").contains(callbackd.callbackState(id)));
    }
    assertTrue(callbackd.sql.count("SELECT count(*) FROM callbackd.attempts WHERE status_code = 204"
      + " AND run_id = ANY (string_to_array(?, ','))", String.join(",", ids)) >= 3, "the first wave was delivered");
    assertTrue(maxOpen.get() <= 3, "at most max_in_flight_per_destination connections: " + maxOpen.get());
  }
}
