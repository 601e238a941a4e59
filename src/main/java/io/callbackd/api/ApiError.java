package io.callbackd.api;

import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;

/** The one shape of every error the API returns: {@code {"error": "...", "field": "..." }}, with a 4xx or 5xx status. */
final class ApiError {

  private ApiError() {
  }

  static void send(RoutingContext ctx, int status, String field, String message) {
    if (ctx.response().ended()) {
      return;
    }
    JsonObject body = new JsonObject().put("error", message);
    if (field != null) {
      body.put("field", field);
    }
    ctx.response().setStatusCode(status).putHeader("content-type", "application/json").end(body.encode());
  }
}
