package io.callbackd;

import io.callbackd.cluster.ClusterMode;
import io.callbackd.config.CallbackdConfig;
import io.callbackd.config.ConfigException;
import io.callbackd.metrics.LogFormat;
import io.callbackd.tracing.Tracing;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.json.JsonObject;
import io.vertx.micrometer.Label;
import io.vertx.micrometer.MicrometerMetricsFactory;
import io.vertx.micrometer.MicrometerMetricsOptions;
import io.vertx.micrometer.VertxPrometheusOptions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Arrays;
import java.util.EnumSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * {@code java -jar callbackd.jar [-cluster]}: reads the configuration, starts callbackd (on a clustered Vert.x in
 * cluster mode), and stops it cleanly on SIGTERM. Only wiring lives here.
 */
public final class Main {

  private Main() {
  }

  public static void main(String[] args) throws Exception {
    // Before the first line is logged, so that even a configuration error comes out in the chosen format.
    LogFormat.apply(System.getenv(CallbackdConfig.ENV_PREFIX + "LOG_FORMAT"));
    Logger log = LoggerFactory.getLogger(Main.class);
    CallbackdConfig config;
    // The configuration decides what kind of Vert.x to build, so it is read with a short-lived one first.
    Vertx bootstrap = Vertx.vertx();
    try {
      JsonObject flags = Arrays.asList(args).contains("-cluster") ? new JsonObject().put("cluster", true) : null;
      config = CallbackdConfig.load(bootstrap, flags, true).toCompletionStage().toCompletableFuture().get();
    } catch (java.util.concurrent.ExecutionException e) {
      Throwable err = e.getCause();
      if (err instanceof ConfigException) {
        log.error("callbackd cannot start: {}", err.getMessage());
      } else {
        log.error("callbackd cannot start", err);
      }
      bootstrap.close();
      System.exit(2);
      return;
    }
    bootstrap.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    LogFormat.apply(config.logFormat);

    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    VertxOptions options = vertxOptions(config.eventLoopThreads());
    MicrometerMetricsFactory metrics = new MicrometerMetricsFactory(registry);
    // OpenTelemetry from the standard OTEL_* settings; without an exporter named there, no SDK is started.
    Tracing tracing;
    try {
      tracing = Tracing.fromEnvironment();
    } catch (RuntimeException e) {
      log.error("callbackd cannot start: the OTEL_* settings are not usable: {}", e.getMessage());
      System.exit(2);
      return;
    }
    if (tracing.exporting()) {
      log.info("Tracing: spans are exported as the OTEL_* settings configure");
    }
    Future<Vertx> vertxStarted = config.cluster
      ? ClusterMode.start(config, options, metrics, tracing.vertxTracerFactory())
      : Future.succeededFuture(vertx(options, metrics, tracing));
    if (config.cluster) {
      log.info("Cluster mode: joining the clustered event bus");
    }
    vertxStarted
      .onSuccess(vertx -> {
        if (vertx.isNativeTransportEnabled()) {
          log.info("Network transport: Netty's native epoll, {} event loop(s)", options.getEventLoopPoolSize());
        } else {
          log.info("Network transport: Java NIO (the native one is not available here: {}), {} event loop(s)",
            String.valueOf(vertx.unavailableNativeTransportCause()), options.getEventLoopPoolSize());
        }
      })
      .compose(vertx -> Callbackd.start(vertx, config, registry, tracing)
        .onSuccess(app -> Runtime.getRuntime().addShutdownHook(new Thread(() -> shutdown(vertx, app, config,
          tracing, log), "callbackd-shutdown")))
        .onFailure(err -> vertx.close()))
      .onFailure(err -> {
        if (err instanceof ConfigException) {
          log.error("callbackd cannot start: {}", err.getMessage());
        } else {
          log.error("callbackd cannot start", err);
        }
        System.exit(2);
      });
  }

  private static Vertx vertx(VertxOptions options, MicrometerMetricsFactory metrics, Tracing tracing) {
    var builder = Vertx.builder().with(options).withMetrics(metrics);
    if (tracing.vertxTracerFactory() != null) {
      builder.withTracer(tracing.vertxTracerFactory());
    }
    return builder.build();
  }

  /**
   * The Vert.x options callbackd runs with: its metrics, its event-loop threads ({@code event_loops}), and Netty's
   * native transport where the platform has it (epoll on Linux: fewer system calls and wake-ups per request and per
   * PostgreSQL round trip than Java's NIO).
   */
  public static VertxOptions vertxOptions(int eventLoops) {
    return new VertxOptions().setMetricsOptions(metricsOptions()).setPreferNativeTransport(true)
      .setEventLoopPoolSize(eventLoops);
  }

  /** Vert.x's own HTTP server, HTTP client, pool and JVM metrics, with bounded labels only (no remote address). */
  public static MicrometerMetricsOptions metricsOptions() {
    return new MicrometerMetricsOptions()
      .setEnabled(true)
      .setJvmMetricsEnabled(true)
      // Not POOL_NAME: for HTTP client pools it is the receiver's host:port, a label without bound.
      .setLabels(EnumSet.of(Label.HTTP_METHOD, Label.HTTP_CODE, Label.POOL_TYPE, Label.EB_SIDE))
      .setPrometheusOptions(new VertxPrometheusOptions().setEnabled(true));
  }

  // Runs on the JVM's shutdown-hook thread, never on an event loop, so waiting here blocks nothing else.
  private static void shutdown(Vertx vertx, Callbackd app, CallbackdConfig config, Tracing tracing, Logger log) {
    log.info("Shutting down: no new claims, waiting up to {} ms for callbacks in flight",
      config.shutdownGrace.toMillis());
    CompletableFuture<Void> done = new CompletableFuture<>();
    app.stop().eventually(vertx::close).onComplete(ar -> done.complete(null));
    try {
      done.get(config.shutdownGrace.toMillis() + 15_000, TimeUnit.MILLISECONDS);
      log.info("callbackd stopped");
    } catch (Exception e) {
      log.warn("Shutdown did not finish in time: {}", e.toString());
    }
    // The last attempts' spans are exported before the process ends.
    tracing.close();
  }
}
