package io.callbackd.api;

import io.vertx.json.schema.OutputUnit;
import io.vertx.openapi.validation.SchemaValidationException;
import io.vertx.openapi.validation.ValidatorException;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Turns a request the OpenAPI contract refused into callbackd's error shape: the message, and the field at fault
 * (a body property, or a path or query parameter), so that contract errors read like every other refusal.
 */
final class ContractErrors {

  private static final Pattern PROPERTY = Pattern.compile("[Pp]roperty \\\\?\"([^\"\\\\]+)\\\\?\"");
  private static final Pattern PARAMETER = Pattern.compile("parameter (\\S+?)[ .]");
  /** A query, path, header or cookie parameter's value refused: its name, not a place inside the value. */
  private static final Pattern REQUEST_PARAMETER =
    Pattern.compile("(?:query|path|header|cookie) parameter (\\S+?)[ .]");

  private ContractErrors() {
  }

  static String field(ValidatorException e) {
    Matcher named = REQUEST_PARAMETER.matcher(e.getMessage() == null ? "" : e.getMessage());
    if (named.find()) {
      return named.group(1);
    }
    if (e instanceof SchemaValidationException && ((SchemaValidationException) e).getOutputUnit() != null) {
      OutputUnit unit = ((SchemaValidationException) e).getOutputUnit();
      String fromBody = fieldOf(unit);
      if (fromBody != null) {
        return fromBody;
      }
    }
    Matcher m = PARAMETER.matcher(e.getMessage() == null ? "" : e.getMessage());
    if (m.find()) {
      return m.group(1);
    }
    return "body";
  }

  /** The first property named by the errors: the one missing, unexpected, or holding a wrong value. */
  private static String fieldOf(OutputUnit root) {
    Deque<OutputUnit> todo = new ArrayDeque<>();
    todo.add(root);
    String located = null;
    while (!todo.isEmpty()) {
      OutputUnit u = todo.poll();
      if (u.getError() != null) {
        Matcher m = PROPERTY.matcher(u.getError());
        if (m.find()) {
          return m.group(1);
        }
      }
      String loc = u.getInstanceLocation();
      if (located == null && loc != null && loc.startsWith("#/") && loc.length() > 2) {
        located = loc.substring(2).split("/")[0];
      }
      if (u.getErrors() != null) {
        todo.addAll(u.getErrors());
      }
    }
    return located;
  }

  static String message(ValidatorException e) {
    String msg = e.getMessage() == null ? "the request does not match the API contract" : e.getMessage();
    return msg.length() > 500 ? msg.substring(0, 500) : msg;
  }
}
