package io.callbackd.support;

import io.callbackd.Callbackd;
import io.callbackd.config.CallbackdConfig;
import io.callbackd.tracing.Tracing;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

/** A callbackd started in the test JVM against a fresh database, with an HTTP client for its API. */
public final class RunningCallbackd implements AutoCloseable {

  /** The only network the tests' destination guard allows: the address the test receivers listen on. */
  public static final String RECEIVERS_NETWORK = "127.0.0.1/32";

  /** Settings that keep tests quick: short timeouts and retry delays, fast polling. */
  public static JsonObject fastSettings() {
    return new JsonObject()
      .put("http_host", "127.0.0.1")
      .put("http_port", 0)
      .put("request_timeout", "2s")
      // The last delay leaves room: a callback's lifetime is the schedule's span, and the attempts take time too.
      .put("retry_delays", "0s,100ms,100ms,100ms,1s")
      .put("retry_jitter", 0.0)
      .put("lease", "10s")
      .put("poll_interval", "100ms")
      .put("shutdown_grace", "5s")
      // The delivery rehearsal stays on, short: every start in the tests makes it and must leave no trace.
      .put("warmup_attempts", 20)
      // Receivers in tests live on 127.0.0.1, which the destination guard blocks by default: that one address is
      // allowed, and the guard stays on for everything else (other loopback addresses included).
      .put("allowed_networks", RECEIVERS_NETWORK);
  }

  public record Response(int status, JsonObject json) {
  }

  public final Vertx vertx;
  public final String pgUrl;
  public final Sql sql;
  private final JsonObject settings;
  private Callbackd app;
  private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
    .connectTimeout(Duration.ofSeconds(5)).build();
  private String token;
  private io.micrometer.prometheusmetrics.PrometheusMeterRegistry registry;
  private final Tracing tracing;

  /** Sends {@code Authorization: Bearer <token>} with every API call from now on (null: none). */
  public RunningCallbackd withToken(String token) {
    this.token = token;
    return this;
  }

  public RunningCallbackd(Vertx vertx, JsonObject overrides) {
    this(vertx, TestPostgres.newDatabase(), overrides);
  }

  public RunningCallbackd(Vertx vertx, String pgUrl, JsonObject overrides) {
    this(vertx, pgUrl, overrides, null);
  }

  /** With {@code registry}, the one given to Vert.x's metrics factory, so /metrics shows Vert.x's metrics too. */
  public RunningCallbackd(Vertx vertx, String pgUrl, JsonObject overrides,
                          io.micrometer.prometheusmetrics.PrometheusMeterRegistry registry) {
    this(vertx, pgUrl, overrides, registry, Tracing.off());
  }

  /** With {@code tracing}, the one {@code vertx} was built with ({@link Tracing#vertxTracerFactory()}). */
  public RunningCallbackd(Vertx vertx, String pgUrl, JsonObject overrides,
                          io.micrometer.prometheusmetrics.PrometheusMeterRegistry registry, Tracing tracing) {
    this.registry = registry;
    this.tracing = tracing;
    this.vertx = vertx;
    this.pgUrl = pgUrl;
    this.sql = new Sql(pgUrl);
    this.settings = fastSettings().mergeIn(overrides == null ? new JsonObject() : overrides).put("pg_url", pgUrl);
    start();
  }

  public void start() {
    CallbackdConfig config = Await.result(CallbackdConfig.load(vertx, settings, false), Duration.ofSeconds(30));
    app = Await.result(Callbackd.start(vertx, config, registry == null
        ? new io.micrometer.prometheusmetrics.PrometheusMeterRegistry(
          io.micrometer.prometheusmetrics.PrometheusConfig.DEFAULT) : registry, tracing),
      Duration.ofSeconds(60));
  }

  public void stop() {
    if (app != null) {
      Await.result(app.stop(), Duration.ofSeconds(30));
      app = null;
    }
  }

  public Callbackd app() {
    return app;
  }

  /** A GET whose body is not JSON (the metrics page). */
  public String text(String path) {
    try {
      HttpRequest req = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + app.httpPort() + path))
        .timeout(Duration.ofSeconds(20)).GET().build();
      return http.send(req, HttpResponse.BodyHandlers.ofString()).body();
    } catch (IOException e) {
      throw new IllegalStateException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  /** A GET whose answer is a JSON array (a listing); fails unless the status is 200. */
  public io.vertx.core.json.JsonArray getArray(String path) {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + app.httpPort() + path))
      .timeout(Duration.ofSeconds(20)).GET();
    if (token != null) {
      b.header("authorization", "Bearer " + token);
    }
    try {
      HttpResponse<String> resp = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
      if (resp.statusCode() != 200) {
        throw new AssertionError("GET " + path + " answered " + resp.statusCode() + ": " + resp.body());
      }
      return new io.vertx.core.json.JsonArray(resp.body());
    } catch (IOException e) {
      throw new IllegalStateException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  public Response call(String method, String path, String body) {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + app.httpPort() + path))
      .timeout(Duration.ofSeconds(20))
      .header("content-type", "application/json");
    if (token != null) {
      b.header("authorization", "Bearer " + token);
    }
    b.method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
    try {
      HttpResponse<String> resp = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
      JsonObject json = resp.body() == null || resp.body().isEmpty() ? null : new JsonObject(resp.body());
      return new Response(resp.statusCode(), json);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  public Response post(String path, JsonObject body) {
    return call("POST", path, body.encode());
  }

  public Response patch(String path, JsonObject body) {
    return call("PATCH", path, body.encode());
  }

  public Response get(String path) {
    return call("GET", path, null);
  }

  /** Creates a run with a callback URL, then moves it to {@code completed}; returns the run id. */
  public String completeRun(String callbackUrl, JsonObject metadata) {
    Response created = post("/v1/runs", new JsonObject().put("agent_id", "agent-1").put("status", "running")
      .put("callback_url", callbackUrl).put("metadata", metadata == null ? new JsonObject() : metadata));
    if (created.status() != 201) {
      throw new AssertionError("create failed: " + created);
    }
    String id = created.json().getString("id");
    Response done = patch("/v1/runs/" + id, new JsonObject().put("status", "completed").put("stop_reason", "end_turn"));
    if (done.status() != 200) {
      throw new AssertionError("update failed: " + done);
    }
    return id;
  }

  /**
   * The state of the run's latest callback, once its outcome has also reached the run's row (outcomes are written
   * to the runs table just after callbackd's own tables); null while it has none or the row is not written yet.
   */
  public String callbackState(String runId) {
    JsonObject run = get("/v1/runs/" + runId).json();
    JsonObject cb = run.getJsonObject("callback");
    if (cb == null || sql.count("SELECT count(*) FROM callbackd.run_writebacks WHERE run_id = ?", runId) > 0) {
      return null;
    }
    return cb.getString("state");
  }

  @Override
  public void close() {
    stop();
  }
}
