package io.callbackd.support;

import io.vertx.core.MultiMap;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.json.JsonObject;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A real webhook receiver on a loopback port (a Vert.x HTTP server). Each path answers with scripted responses in
 * order, then with its default (204 unless set), and every request is recorded.
 */
public final class TestReceiver implements AutoCloseable {

  /** How the receiver answers one request. */
  public interface Answer {
    void answer(HttpServerRequest request);

    static Answer status(int code) {
      return req -> req.response().setStatusCode(code).end("status " + code);
    }

    static Answer status(int code, String headerName, String headerValue) {
      return req -> req.response().setStatusCode(code).putHeader(headerName, headerValue).end();
    }

    /** Accepts the request and never answers. */
    static Answer silence() {
      return req -> { };
    }

    /** Answers as {@code then} does, after {@code delay}: a slow receiver (the wait holds no thread). */
    static Answer after(Duration delay, Answer then) {
      return after(delay, delay, then);
    }

    /** Answers as {@code then} does, after a delay drawn uniformly between {@code min} and {@code max}. */
    static Answer after(Duration min, Duration max, Answer then) {
      return req -> {
        long ms = min.toMillis() + ThreadLocalRandom.current().nextLong(max.toMillis() - min.toMillis() + 1);
        Vertx.currentContext().owner().setTimer(Math.max(1, ms), t -> then.answer(req));
      };
    }

    /**
     * Answers as {@code then} does once {@code ready} is set, looked at every 10 ms: a request held open until the
     * test has done what it must do meanwhile (the wait holds no thread).
     */
    static Answer when(AtomicBoolean ready, Answer then) {
      return req -> {
        Vertx vertx = Vertx.currentContext().owner();
        vertx.setPeriodic(10, t -> {
          if (ready.get()) {
            vertx.cancelTimer(t);
            then.answer(req);
          }
        });
      };
    }
  }

  public record Received(String path, MultiMap headers, Buffer body, Instant at) {
    public JsonObject json() {
      return body.toJsonObject();
    }
  }

  private final Vertx vertx;
  private final HttpServer server;
  private final Map<String, Deque<Answer>> scripts = new ConcurrentHashMap<>();
  private final Map<String, Answer> defaults = new ConcurrentHashMap<>();
  private final List<Received> received = new CopyOnWriteArrayList<>();
  private final AtomicInteger open = new AtomicInteger();
  private final AtomicInteger maxOpen = new AtomicInteger();

  public TestReceiver(Vertx vertx) {
    this.vertx = vertx;
    this.server = vertx.createHttpServer().requestHandler(req -> {
      // Open from the moment the request arrives until its response is ended (or its connection closes).
      maxOpen.accumulateAndGet(open.incrementAndGet(), Math::max);
      AtomicBoolean closed = new AtomicBoolean();
      Runnable done = () -> {
        if (closed.compareAndSet(false, true)) {
          open.decrementAndGet();
        }
      };
      req.response().endHandler(v -> done.run());
      req.response().closeHandler(v -> done.run());
      req.body().onSuccess(body -> {
        received.add(new Received(req.path(), MultiMap.caseInsensitiveMultiMap().addAll(req.headers()), body,
          Instant.now()));
        Answer answer = next(req.path());
        answer.answer(req);
      });
    });
    Await.result(server.listen(0, "127.0.0.1"), Duration.ofSeconds(10));
  }

  private Answer next(String path) {
    Deque<Answer> q = scripts.get(path);
    synchronized (this) {
      if (q != null && !q.isEmpty()) {
        return q.poll();
      }
    }
    return defaults.getOrDefault(path, Answer.status(204));
  }

  /** Scripts the next answers of a path, in order. */
  public synchronized TestReceiver script(String path, Answer... answers) {
    scripts.computeIfAbsent(path, p -> new ArrayDeque<>()).addAll(List.of(answers));
    return this;
  }

  public TestReceiver otherwise(String path, Answer answer) {
    defaults.put(path, answer);
    return this;
  }

  public String url(String path) {
    return "http://127.0.0.1:" + server.actualPort() + path;
  }

  public int port() {
    return server.actualPort();
  }

  public List<Received> received(String path) {
    List<Received> out = new ArrayList<>();
    for (Received r : received) {
      if (r.path().equals(path)) {
        out.add(r);
      }
    }
    return out;
  }

  public int count(String path) {
    return received(path).size();
  }

  /** The most requests this receiver had open at once (arrived, not yet answered), over all paths. */
  public int maxOpen() {
    return maxOpen.get();
  }

  @Override
  public void close() {
    Await.result(server.close(), Duration.ofSeconds(10));
  }
}
