package io.callbackd;

import io.callbackd.config.CallbackdConfig;
import io.callbackd.config.ConfigException;
import io.vertx.core.Vertx;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** {@code java -jar callbackd.jar}: reads the configuration, starts callbackd, and stops it cleanly on SIGTERM. */
public final class Main {

  private static final Logger LOG = LoggerFactory.getLogger(Main.class);

  private Main() {
  }

  public static void main(String[] args) {
    Vertx vertx = Vertx.builder().build();
    CallbackdConfig.load(vertx, null, true)
      .compose(config -> Callbackd.start(vertx, config).map(app -> {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> shutdown(vertx, app, config), "callbackd-shutdown"));
        return app;
      }))
      .onFailure(err -> {
        if (err instanceof ConfigException) {
          LOG.error("callbackd cannot start: {}", err.getMessage());
        } else {
          LOG.error("callbackd cannot start", err);
        }
        vertx.close().onComplete(v -> System.exit(2));
      });
  }

  // Runs on the JVM's shutdown-hook thread, never on an event loop, so waiting here blocks nothing else.
  private static void shutdown(Vertx vertx, Callbackd app, CallbackdConfig config) {
    LOG.info("Shutting down: no new claims, waiting up to {} ms for callbacks in flight",
      config.shutdownGrace.toMillis());
    CompletableFuture<Void> done = new CompletableFuture<>();
    app.stop().eventually(vertx::close).onComplete(ar -> done.complete(null));
    try {
      done.get(config.shutdownGrace.toMillis() + 15_000, TimeUnit.MILLISECONDS);
      LOG.info("callbackd stopped");
    } catch (Exception e) {
      LOG.warn("Shutdown did not finish in time: {}", e.toString());
    }
  }
}
