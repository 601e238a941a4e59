package io.callbackd.metrics;

import io.callbackd.database.SchemaProbe;
import io.callbackd.database.SchemaVersion;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.healthchecks.HealthChecks;
import io.vertx.ext.healthchecks.Status;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.healthchecks.HealthCheckHandler;

import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * {@code /health/live}: the process answers. {@code /health/ready}: PostgreSQL answers, the schema is at or above
 * this build's version, and the dispatchers are deployed; 503 with the failing check's reason otherwise. Readiness
 * follows PostgreSQL by itself: it drops while the database is unreachable and comes back when it is.
 */
public final class HealthRoutes {

  public static final String LIVE = "/health/live";
  public static final String READY = "/health/ready";

  private HealthRoutes() {
  }

  /**
   * {@code buildSchemaVersion}: the highest migration packaged in this build. The "migrations" check is UP while the
   * database's latest applied migration is at or above it (a newer release may have migrated further during a
   * rolling upgrade, or before a rollback), and DOWN while it is below.
   */
  public static void mount(Router router, Vertx vertx, SchemaProbe probe, String buildSchemaVersion,
                           BooleanSupplier dispatchersDeployed) {
    SchemaVersion build = SchemaVersion.parse(buildSchemaVersion);
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
        JsonObject data = new JsonObject().put("version", version).put("build_version", build.toString());
        promise.complete(build.shortfall(version)
          .map(reason -> Status.KO(data.put("reason", reason)))
          .orElseGet(() -> Status.OK(data)));
      }));
    checks.register("dispatchers", promise -> promise.complete(dispatchersDeployed.getAsBoolean() ? Status.OK()
      : Status.KO(new JsonObject().put("reason", "dispatchers are not deployed"))));
    router.get(READY).handler(HealthCheckHandler.createWithHealthChecks(checks));
  }

}
