package io.callbackd.api;

import io.callbackd.runs.InvalidInputException;
import io.callbackd.runs.RunInput;
import io.callbackd.runs.StorableJson;
import io.vertx.ext.web.RoutingContext;

/** Path and query parameters checked before they reach a statement: a refusal names the parameter. */
final class RequestParams {

  private RequestParams() {
  }

  /** The run id of the path, or null after answering 400 naming {@code id}. */
  static String runId(RoutingContext ctx) {
    String id = ctx.pathParam("id");
    if (id == null || id.isBlank() || id.length() > RunInput.MAX_ID) {
      ApiError.send(ctx, 400, "id", "the run id in the path must be 1 to " + RunInput.MAX_ID + " characters");
      return null;
    }
    try {
      StorableJson.checkText("id", id);
    } catch (InvalidInputException e) {
      ApiError.send(ctx, 400, "id", e.getMessage());
      return null;
    }
    return id;
  }

  /** A query parameter, null when absent or empty; throws naming it when it could not be stored as sent. */
  static String query(RoutingContext ctx, String name) {
    String v = ctx.queryParams().get(name);
    if (v == null || v.isEmpty()) {
      return null;
    }
    StorableJson.checkText(name, v);
    return v;
  }
}
