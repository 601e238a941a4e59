package io.callbackd.runs;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Map;

/**
 * What every piece of text and JSON taken in must be so that PostgreSQL can store it as sent: no NUL character
 * ({@code text} and {@code jsonb} cannot hold one), no unpaired UTF-16 surrogate (it has no UTF-8 form), and JSON
 * nested at most {@link #MAX_DEPTH} levels (the body itself is the first). One pass over the parsed body; a refusal
 * names the top-level field that holds the value.
 */
public final class StorableJson {

  /** Deepest nesting of objects and arrays accepted in a JSON body, the body itself counting as one level. */
  public static final int MAX_DEPTH = 100;

  private StorableJson() {
  }

  /** Refuses, naming its top-level field, the first value of {@code body} that could not be stored as sent. */
  public static void check(JsonObject body) {
    for (Map.Entry<String, Object> e : body) {
      if (problem(e.getKey()) != null) {
        throw new InvalidInputException("body", "a field name " + problem(e.getKey()));
      }
      checkValue(e.getKey(), e.getValue());
    }
  }

  /** Refuses a path or query parameter that could not be stored or looked up as sent. */
  public static void checkText(String field, String value) {
    String problem = value == null ? null : problem(value);
    if (problem != null) {
      throw new InvalidInputException(field, field + " " + problem);
    }
  }

  /**
   * A number beyond a double's range (1e400) is parsed as an infinity, which JSON cannot carry: PostgreSQL would keep
   * it as the string "Infinity". Refused rather than changed.
   */
  private static void refuseNonFinite(String field, Object v) {
    if (v instanceof Double && !Double.isFinite((Double) v) || v instanceof Float && !Float.isFinite((Float) v)) {
      throw new InvalidInputException(field, field + " holds a number beyond the range JSON numbers are stored in"
        + " (about 1.8e308)");
    }
  }

  /** Walks one top-level value without recursion, so that its depth costs no stack. */
  private static void checkValue(String field, Object top) {
    refuseNonFinite(field, top);
    if (top instanceof String) {
      String problem = problem((String) top);
      if (problem != null) {
        throw new InvalidInputException(field, field + " " + problem);
      }
      return;
    }
    if (!holdsText(top)) {
      return;
    }
    Deque<Object> todo = new ArrayDeque<>();
    Deque<Integer> depths = new ArrayDeque<>();
    todo.push(top);
    depths.push(2);
    while (!todo.isEmpty()) {
      Object v = todo.pop();
      int depth = depths.pop();
      if (v instanceof String) {
        String problem = problem((String) v);
        if (problem != null) {
          throw new InvalidInputException(field, field + " " + problem);
        }
      } else if (v instanceof JsonObject || v instanceof JsonArray) {
        if (depth > MAX_DEPTH) {
          throw new InvalidInputException(field, field + " is nested more than " + MAX_DEPTH + " levels deep");
        }
        if (v instanceof JsonObject) {
          for (Map.Entry<String, Object> e : (JsonObject) v) {
            String problem = problem(e.getKey());
            if (problem != null) {
              throw new InvalidInputException(field, field + " has a key that " + problem);
            }
            refuseNonFinite(field, e.getValue());
            if (holdsText(e.getValue())) {
              todo.push(e.getValue());
              depths.push(depth + 1);
            }
          }
        } else {
          for (Object item : (JsonArray) v) {
            refuseNonFinite(field, item);
            if (holdsText(item)) {
              todo.push(item);
              depths.push(depth + 1);
            }
          }
        }
      }
    }
  }

  /** Strings and containers are looked at; numbers, booleans and nulls cannot be wrong here. */
  private static boolean holdsText(Object v) {
    return v instanceof String || v instanceof JsonObject || v instanceof JsonArray;
  }

  /** Why {@code s} cannot be stored as sent, or null when it can. */
  static String problem(String s) {
    for (int i = 0, n = s.length(); i < n; i++) {
      char c = s.charAt(i);
      if (c < 0xD800) {
        if (c == 0) {
          return "contains a NUL character (\\u0000), which cannot be stored";
        }
      } else if (c <= 0xDFFF) {
        if (c <= 0xDBFF && i + 1 < n && Character.isLowSurrogate(s.charAt(i + 1))) {
          i++;
        } else {
          return "contains an unpaired UTF-16 surrogate (\\u" + Integer.toHexString(c) + "), which is not text";
        }
      }
    }
    return null;
  }
}
