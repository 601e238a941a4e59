package io.callbackd.metrics;

import io.callbackd.database.SchemaProbe;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.healthchecks.HealthChecks;
import io.vertx.ext.healthchecks.Status;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.healthchecks.HealthCheckHandler;

import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * {@code /health/live}: the process answers. {@code /health/ready}: PostgreSQL answers, the migrations are applied,
 * and the dispatchers are deployed; 503 with the failing check's reason otherwise. Readiness follows PostgreSQL by
 * itself: it drops while the database is unreachable and comes back when it is.
 */
public final class HealthRoutes {

  public static final String LIVE = "/health/live";
  public static final String READY = "/health/ready";

  private HealthRoutes() {
  }

  public static void mount(Router router, Vertx vertx, SchemaProbe probe, String expectedSchemaVersion,
                           BooleanSupplier dispatchersDeployed) {
    router.get(LIVE).handler(ctx -> ctx.response().putHeader("content-type", "application/json")
      .end(new JsonObject().put("status", "UP").encode()));

    HealthChecks checks = HealthChecks.create(vertx);
    checks.register("postgres", 3000, promise -> probe.ping()
      .timeout(2, TimeUnit.SECONDS)
      .onComplete(ar -> promise.complete(ar.succeeded() ? Status.OK()
        : Status.KO(new JsonObject().put("reason", "PostgreSQL unreachable: " + ar.cause().getMessage())))));
    checks.register("migrations", 3000, promise -> probe.appliedVersion()
      .timeout(2, TimeUnit.SECONDS)
      .onComplete(ar -> {
        if (ar.failed()) {
          promise.complete(Status.KO(new JsonObject().put("reason", "cannot read the schema history: "
            + ar.cause().getMessage())));
          return;
        }
        String version = ar.result();
        promise.complete(expectedSchemaVersion.equals(version) ? Status.OK(new JsonObject().put("version", version))
          : Status.KO(new JsonObject().put("reason", "schema at version " + version + ", expected "
          + expectedSchemaVersion)));
      }));
    checks.register("dispatchers", promise -> promise.complete(dispatchersDeployed.getAsBoolean() ? Status.OK()
      : Status.KO(new JsonObject().put("reason", "dispatchers are not deployed"))));
    router.get(READY).handler(HealthCheckHandler.createWithHealthChecks(checks));
  }

}
