package io.callbackd.api;

import com.fasterxml.jackson.core.exc.StreamConstraintsException;
import io.callbackd.runs.InvalidInputException;
import io.callbackd.runs.StorableJson;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;

import java.util.Locale;

/**
 * The one check of every {@code /v1} request body, before any route sees it: declared as JSON (415 otherwise),
 * well-formed UTF-8, parseable (the parser refuses nesting past 1000 levels before it costs any stack), and
 * storable as sent ({@link StorableJson}: no NUL, no unpaired surrogate, at most 100 levels). The body is parsed
 * once here and handed to the handlers.
 */
final class JsonRequestBody {

  private static final String PARSED = "callbackd.parsed-body";

  private JsonRequestBody() {
  }

  static void handle(RoutingContext ctx) {
    Buffer body = ctx.body() == null ? null : ctx.body().buffer();
    if (body == null || body.length() == 0) {
      ctx.next();
      return;
    }
    String type = ctx.request().getHeader("content-type");
    if (!isJson(type)) {
      ApiError.send(ctx, 415, "content-type", "the body must be JSON, sent with Content-Type: application/json "
        + "(UTF-8); got " + (type == null ? "no Content-Type" : "'" + shorten(type, 100) + "'"));
      return;
    }
    int invalid = Utf8.firstInvalid(body);
    if (invalid >= 0) {
      ApiError.send(ctx, 400, "body", "the body is not valid UTF-8 (at byte " + invalid + ")");
      return;
    }
    Object parsed;
    try {
      parsed = body.toJsonValue();
    } catch (DecodeException e) {
      ApiError.send(ctx, 400, "body", e.getCause() instanceof StreamConstraintsException
        ? "the body is beyond what the JSON parser reads (nesting over 1000 levels, or a number of over 1000 "
          + "digits); JSON is accepted up to " + StorableJson.MAX_DEPTH + " levels deep"
        : "the body is not valid JSON: " + reason(e));
      return;
    }
    if (parsed instanceof JsonObject) {
      try {
        StorableJson.check((JsonObject) parsed);
      } catch (InvalidInputException e) {
        ApiError.send(ctx, 400, e.field(), e.getMessage());
        return;
      }
    }
    ctx.put(PARSED, parsed);
    ctx.next();
  }

  /** The body as parsed by {@link #handle}: a JsonObject, JsonArray, String, Number, Boolean; null when empty. */
  static Object parsed(RoutingContext ctx) {
    return ctx.get(PARSED);
  }

  /** {@code application/json}, in any case, with no charset or UTF-8 (RFC 8259: JSON is UTF-8). */
  static boolean isJson(String contentType) {
    if (contentType == null) {
      return false;
    }
    String[] parts = contentType.split(";");
    if (!parts[0].trim().equalsIgnoreCase("application/json")) {
      return false;
    }
    for (int i = 1; i < parts.length; i++) {
      String p = parts[i].trim().toLowerCase(Locale.ROOT);
      if (p.startsWith("charset=")) {
        String charset = p.substring("charset=".length()).replace("\"", "");
        if (!charset.equals("utf-8") && !charset.equals("utf8")) {
          return false;
        }
      }
    }
    return true;
  }

  /** The parser's reason, without where it read the input from. */
  private static String reason(DecodeException e) {
    String m = e.getCause() != null && e.getCause().getMessage() != null ? e.getCause().getMessage() : "";
    int cut = m.indexOf('\n');
    m = cut >= 0 ? m.substring(0, cut) : m;
    cut = m.indexOf(" at [Source");
    m = cut >= 0 ? m.substring(0, cut) : m;
    return shorten(m.isBlank() ? "malformed" : m, 200);
  }

  private static String shorten(String s, int max) {
    return s.length() > max ? s.substring(0, max) + "..." : s;
  }
}
