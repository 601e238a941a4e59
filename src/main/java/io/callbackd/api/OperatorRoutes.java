package io.callbackd.api;

import io.callbackd.delivery.DeliveryStore;
import io.callbackd.delivery.DispatchVerticle;
import io.callbackd.runs.InvalidInputException;
import io.callbackd.runs.RunStore;
import io.callbackd.runs.StorableJson;
import io.callbackd.runs.Timestamps;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.openapi.router.RouterBuilder;
import io.vertx.ext.web.RoutingContext;

import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Set;

/**
 * What operators do when receivers misbehave: redeliver one callback or many (throttled), cancel one, find callbacks
 * by state and destination, and pause or resume a destination while its owner fixes it. Behind the API token like
 * every {@code /v1} route.
 */
final class OperatorRoutes {

  static final Set<String> STATES = Set.copyOf(DeliveryStore.STATES);
  static final Set<String> REPLAYABLE = Set.of("delivered", "failed", "cancelled");
  static final int MAX_LIMIT = 1000;
  static final int MAX_REDELIVER = 10_000;

  private final Vertx vertx;
  private final RunStore runs;
  private final DeliveryStore deliveries;
  private final double redeliverRate;

  OperatorRoutes(Vertx vertx, RunStore runs, DeliveryStore deliveries, double redeliverRate) {
    this.vertx = vertx;
    this.runs = runs;
    this.deliveries = deliveries;
    this.redeliverRate = redeliverRate;
  }

  /** Attaches the handlers to the contract's operations. */
  void register(RouterBuilder api) {
    api.getRoute("redeliverRun").addHandler(this::redeliverRun);
    api.getRoute("cancelRun").addHandler(this::cancelRun);
    api.getRoute("listCallbacks").addHandler(this::listCallbacks);
    api.getRoute("redeliverCallbacks").addHandler(this::redeliverMany);
    api.getRoute("listDestinations").addHandler(this::listDestinations);
    api.getRoute("getOverview").addHandler(ctx -> deliveries.overview().onComplete(ar -> respond(ctx, 200, ar, false)));
    api.getRoute("pauseDestination").addHandler(ctx -> pause(ctx, true));
    api.getRoute("resumeDestination").addHandler(ctx -> pause(ctx, false));
  }

  private void redeliverRun(RoutingContext ctx) {
    String id = RequestParams.runId(ctx);
    if (id == null) {
      return;
    }
    runs.find(id).compose(run -> {
      if (run == null) {
        return Future.failedFuture(new ApiException(404, "id", "unknown run " + id));
      }
      JsonObject cb = run.getJsonObject("callback");
      if (cb == null) {
        return Future.failedFuture(new ApiException(409, "id", "run " + id + " has no callback to redeliver"));
      }
      if (!REPLAYABLE.contains(cb.getString("state"))) {
        return Future.failedFuture(new ApiException(409, "id", "the callback of run " + id + " is "
          + cb.getString("state") + "; only a delivered, failed or cancelled callback can be redelivered"));
      }
      return deliveries.redeliverRun(id).compose(newId -> newId == null
        ? Future.failedFuture(new ApiException(409, "id", "the callback of run " + id + " changed meanwhile; retry"))
        : runs.find(id));
    }).onComplete(ar -> respond(ctx, 202, ar.map(run -> run.getJsonObject("callback")), true));
  }

  private void cancelRun(RoutingContext ctx) {
    String id = RequestParams.runId(ctx);
    if (id == null) {
      return;
    }
    runs.find(id).compose(run -> {
      if (run == null) {
        return Future.failedFuture(new ApiException(404, "id", "unknown run " + id));
      }
      // The run's row says so at once unless the platform holds it locked (then a moment later).
      return deliveries.cancelRun(id).compose(cancelled -> cancelled
        ? deliveries.writeBackRuns(500).transform(ignored -> runs.find(id))
        : Future.failedFuture(new ApiException(409, "id", "run " + id + " has no pending callback to cancel")));
    }).onComplete(ar -> respond(ctx, 200, ar.map(run -> run.getJsonObject("callback")), false));
  }

  private void listCallbacks(RoutingContext ctx) {
    try {
      String state = param(ctx, "state");
      if (state != null && !STATES.contains(state)) {
        throw new InvalidInputException("state", "state must be one of " + STATES);
      }
      int limit = intParam(ctx, "limit", 100, 1, MAX_LIMIT);
      Long cursor = cursor(ctx);
      String runId = param(ctx, "run_id");
      destination(param(ctx, "destination"))
        .compose(dest -> deliveries.list(state, dest, runId, cursor, limit))
        .onComplete(ar -> respond(ctx, 200, ar.map(list -> {
          JsonObject page = new JsonObject().put("callbacks", list);
          if (list.size() == limit) {
            page.put("next_cursor", list.getJsonObject(list.size() - 1).getLong("id"));
          } else {
            page.putNull("next_cursor");
          }
          return page;
        }), false));
    } catch (InvalidInputException e) {
      ApiError.send(ctx, 400, e.field(), e.getMessage());
    }
  }

  private void redeliverMany(RoutingContext ctx) {
    JsonObject filter;
    try {
      // Parsed and checked once for every /v1 body (JsonRequestBody); absent means no filter.
      Object parsed = JsonRequestBody.parsed(ctx) == null ? new JsonObject() : JsonRequestBody.parsed(ctx);
      if (!(parsed instanceof JsonObject)) {
        throw new InvalidInputException("body", "the body must be a JSON object with the filter");
      }
      filter = (JsonObject) parsed;
      for (String f : filter.fieldNames()) {
        if (!Set.of("state", "destination", "since", "until", "limit").contains(f)) {
          throw new InvalidInputException(f, "unknown field " + f + "; the filter has state, destination, since, "
            + "until, limit");
        }
      }
      String state = filter.getValue("state") == null ? "failed" : String.valueOf(filter.getValue("state"));
      if (!REPLAYABLE.contains(state)) {
        throw new InvalidInputException("state", "state must be one of " + REPLAYABLE);
      }
      OffsetDateTime since = time(filter, "since");
      OffsetDateTime until = time(filter, "until");
      Object limitValue = filter.getValue("limit", MAX_REDELIVER);
      if (!(limitValue instanceof Integer) || (Integer) limitValue < 1 || (Integer) limitValue > MAX_REDELIVER) {
        throw new InvalidInputException("limit", "limit must be a whole number from 1 to " + MAX_REDELIVER);
      }
      Object dest = filter.getValue("destination");
      if (dest != null && !(dest instanceof String)) {
        throw new InvalidInputException("destination", "destination must be a string such as https://example.com:443");
      }
      // Left out, the replay covers every destination; an empty one (a script's unset variable) must not.
      if (dest != null && ((String) dest).isBlank()) {
        throw new InvalidInputException("destination", "destination must not be empty: leave it out to replay every"
          + " destination");
      }
      destination((String) dest)
        .compose(d -> deliveries.redeliverMany(d, state, since, until, (Integer) limitValue, redeliverRate))
        .onComplete(ar -> respond(ctx, 202, ar.map(n -> new JsonObject().put("redelivered", n)
          .put("per_second_per_destination", redeliverRate)), n(ar.succeeded() ? ar.result() : 0) > 0));
    } catch (InvalidInputException e) {
      ApiError.send(ctx, 400, e.field(), e.getMessage());
    }
  }

  private static int n(Integer i) {
    return i == null ? 0 : i;
  }

  private void listDestinations(RoutingContext ctx) {
    int limit;
    try {
      limit = intParam(ctx, "limit", 100, 1, MAX_LIMIT);
    } catch (InvalidInputException e) {
      ApiError.send(ctx, 400, e.field(), e.getMessage());
      return;
    }
    deliveries.destinations(limit).onComplete(ar -> respond(ctx, 200,
      ar.map(list -> new JsonObject().put("destinations", list)), false));
  }

  private void pause(RoutingContext ctx, boolean pause) {
    String given = ctx.pathParam("origin");
    try {
      StorableJson.checkText("origin", given);
    } catch (InvalidInputException e) {
      ApiError.send(ctx, 400, e.field(), e.getMessage());
      return;
    }
    deliveries.origin(given).compose(dest -> {
      if (dest == null) {
        return Future.failedFuture(new ApiException(400, "origin", "the destination must be an origin such as "
          + "https://example.com:443, URL-encoded in the path"));
      }
      Future<Void> done = pause ? deliveries.pause(dest) : deliveries.resume(dest).mapEmpty();
      return done.map(v -> new JsonObject().put("destination", dest).put("paused", pause));
    }).onComplete(ar -> respond(ctx, 200, ar, !pause));
  }

  /** Normalises a destination filter the way callbacks are keyed (scheme://host:port); null stays null. */
  private Future<String> destination(String given) {
    if (given == null || given.isEmpty()) {
      return Future.succeededFuture(null);
    }
    return deliveries.origin(given).compose(origin -> origin == null
      ? Future.failedFuture(new ApiException(400, "destination", "'" + given + "' is not an origin such as "
        + "https://example.com:443"))
      : Future.succeededFuture(origin));
  }

  private static Long cursor(RoutingContext ctx) {
    String v = param(ctx, "cursor");
    if (v == null) {
      return null;
    }
    try {
      long n = Long.parseLong(v);
      if (n >= 1) {
        return n;
      }
    } catch (NumberFormatException e) {
      // refused below
    }
    throw new InvalidInputException("cursor", "cursor must be the next_cursor of a previous page");
  }

  private static String param(RoutingContext ctx, String name) {
    return RequestParams.query(ctx, name);
  }

  private static int intParam(RoutingContext ctx, String name, int dflt, int min, int max) {
    String v = param(ctx, name);
    if (v == null) {
      return dflt;
    }
    try {
      int n = Integer.parseInt(v);
      if (n < min || n > max) {
        throw new NumberFormatException();
      }
      return n;
    } catch (NumberFormatException e) {
      throw new InvalidInputException(name, name + " must be a whole number from " + min + " to " + max);
    }
  }

  private static OffsetDateTime time(JsonObject filter, String field) {
    Object v = filter.getValue(field);
    if (v == null) {
      return null;
    }
    return Timestamps.parseField(field, String.valueOf(v)).atOffset(ZoneOffset.UTC);
  }

  private void respond(RoutingContext ctx, int status, io.vertx.core.AsyncResult<JsonObject> ar, boolean wake) {
    if (ar.succeeded()) {
      if (wake) {
        DispatchVerticle.wakeAll(vertx);
      }
      ctx.response().setStatusCode(status).putHeader("content-type", "application/json").end(ar.result().encode());
    } else if (ar.cause() instanceof ApiException) {
      ApiException e = (ApiException) ar.cause();
      ApiError.send(ctx, e.status, e.field, e.getMessage());
    } else if (ar.cause() instanceof InvalidInputException) {
      ApiError.send(ctx, 400, ((InvalidInputException) ar.cause()).field(), ar.cause().getMessage());
    } else {
      ApiError.send(ctx, 503, null, "the database is unavailable, nothing was changed; try again");
    }
  }

  /** A refusal with its HTTP status and the field at fault. */
  static final class ApiException extends RuntimeException {
    final int status;
    final String field;

    ApiException(int status, String field, String message) {
      super(message, null, false, false);
      this.status = status;
      this.field = field;
    }
  }
}
