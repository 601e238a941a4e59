package io.callbackd.runs;

import io.callbackd.webhook.DestinationGuard;
import io.vertx.core.json.JsonObject;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.net.URI;
import java.time.LocalDateTime;
import java.util.Set;
import java.util.TreeSet;
import java.util.UUID;

/** Turns request JSON into {@link NewRun} and {@link RunUpdate}, refusing anything it cannot store faithfully. */
public final class RunInput {

  public static final int MAX_TEXT = 4096;
  /** Longest run id; Letta's are {@code run-<uuid>}, 40 characters. */
  public static final int MAX_ID = 255;

  private static final Set<String> NEW_RUN_FIELDS = Set.of("id", "status", "agent_id", "conversation_id",
    "callback_url", "metadata", "request_config", "background", "completed_at", "stop_reason", "ttft_ns",
    "total_duration_ns", "organization_id");
  private static final Set<String> UPDATE_FIELDS = Set.of("status", "completed_at", "stop_reason", "metadata",
    "total_duration_ns");

  private RunInput() {
  }

  public static NewRun parseNew(JsonObject json) {
    return parseNew(json, null);
  }

  /**
   * Like {@link #parseNew(JsonObject)}, and also refuses a callback_url whose host is an IP literal (or localhost)
   * that the guard blocks, so an obviously forbidden destination is never accepted. The URL is parsed once.
   */
  public static NewRun parseNew(JsonObject json, DestinationGuard guard) {
    rejectUnknown(json, NEW_RUN_FIELDS);
    String id = text(json, "id", false);
    if (id == null) {
      id = "run-" + UUID.randomUUID();
    } else if (id.isBlank()) {
      throw new InvalidInputException("id", "id must not be blank");
    } else if (id.length() > MAX_ID) {
      throw new InvalidInputException("id", "id is longer than " + MAX_ID + " characters");
    }
    String status = status(json, false);
    String agentId = text(json, "agent_id", true);
    if (agentId.isBlank()) {
      throw new InvalidInputException("agent_id", "agent_id must not be blank");
    }
    String callbackUrl = text(json, "callback_url", false);
    URI callback = callbackUrl == null ? null : CallbackUrl.parse("callback_url", callbackUrl);
    NewRun run = new NewRun(id, status == null ? "created" : status, agentId, text(json, "conversation_id", false),
      callbackUrl, object(json, "metadata"), object(json, "request_config"), bool(json, "background"),
      time(json, "completed_at"), text(json, "stop_reason", false), nonNegative(json, "ttft_ns"),
      nonNegative(json, "total_duration_ns"), text(json, "organization_id", false));
    if (callback != null && guard != null) {
      String host = callback.getHost();
      String bare = host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
      guard.blockReasonForLiteral(bare).ifPresent(reason -> {
        throw new InvalidInputException("callback_url", "blocked destination " + bare + " (" + reason + ")");
      });
    }
    return run;
  }

  public static RunUpdate parseUpdate(JsonObject json) {
    rejectUnknown(json, UPDATE_FIELDS);
    RunUpdate update = new RunUpdate(status(json, false), time(json, "completed_at"), text(json, "stop_reason", false),
      object(json, "metadata"), nonNegative(json, "total_duration_ns"));
    if (update.isEmpty()) {
      throw new InvalidInputException("body", "the update names none of " + new TreeSet<>(UPDATE_FIELDS));
    }
    return update;
  }

  private static void rejectUnknown(JsonObject json, Set<String> known) {
    for (String name : json.fieldNames()) {
      if (!known.contains(name)) {
        throw new InvalidInputException(name, "unknown field " + name + "; known fields are " + new TreeSet<>(known));
      }
    }
  }

  private static String status(JsonObject json, boolean required) {
    String status = text(json, "status", required);
    if (status != null && !RunStatus.isKnown(status)) {
      throw new InvalidInputException("status", "status must be one of " + RunStatus.ALL + ", got '" + status + "'");
    }
    return status;
  }

  private static String text(JsonObject json, String field, boolean required) {
    Object v = json.getValue(field);
    if (v == null) {
      if (required) {
        throw new InvalidInputException(field, field + " is required");
      }
      return null;
    }
    if (!(v instanceof String)) {
      throw new InvalidInputException(field, field + " must be a string");
    }
    String s = (String) v;
    if (s.length() > MAX_TEXT) {
      throw new InvalidInputException(field, field + " is longer than " + MAX_TEXT + " characters");
    }
    return s;
  }

  private static JsonObject object(JsonObject json, String field) {
    Object v = json.getValue(field);
    if (v == null) {
      return null;
    }
    if (!(v instanceof JsonObject)) {
      throw new InvalidInputException(field, field + " must be a JSON object");
    }
    return (JsonObject) v;
  }

  private static Boolean bool(JsonObject json, String field) {
    Object v = json.getValue(field);
    if (v == null) {
      return null;
    }
    if (!(v instanceof Boolean)) {
      throw new InvalidInputException(field, field + " must be true or false");
    }
    return (Boolean) v;
  }

  /** A whole number from 0 to 2^63 - 1 (a bigint column), compared exactly: nothing is rounded into range. */
  private static Long nonNegative(JsonObject json, String field) {
    Object v = json.getValue(field);
    if (v == null) {
      return null;
    }
    long n;
    try {
      if (v instanceof Integer || v instanceof Long || v instanceof Short || v instanceof Byte) {
        n = ((Number) v).longValue();
      } else if (v instanceof BigInteger) {
        n = ((BigInteger) v).longValueExact();
      } else if (v instanceof Number) {
        n = (v instanceof BigDecimal ? (BigDecimal) v : new BigDecimal(v.toString())).longValueExact();
      } else {
        throw new ArithmeticException();
      }
    } catch (ArithmeticException | NumberFormatException e) {
      n = -1;
    }
    if (n < 0) {
      throw new InvalidInputException(field, field + " must be a whole number from 0 to " + Long.MAX_VALUE);
    }
    return n;
  }

  private static LocalDateTime time(JsonObject json, String field) {
    String s = text(json, field, false);
    if (s == null) {
      return null;
    }
    return Timestamps.parseField(field, s);
  }
}
