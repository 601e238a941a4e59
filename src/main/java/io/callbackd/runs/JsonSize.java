package io.callbackd.runs;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.util.List;
import java.util.Map;

/**
 * An upper bound of the bytes a JSON value takes once encoded (UTF-8, as Vert.x's codec writes it), found by walking
 * the value rather than encoding it. A size limit is checked against the bound first, and the value is encoded to
 * measure it exactly only when the bound is over the limit: almost every event and payload is far below its limit,
 * and encoding each one only to measure it cost the event-bus consumer a fifth of its CPU per event.
 */
public final class JsonSize {

  /** Each character of a string takes at most this many bytes: an escape such as {@code \u001f}. */
  private static final long PER_CHAR = 6;

  private JsonSize() {
  }

  /**
   * At least the encoded size of {@code value}; the walk stops once it passes {@code limit} and then answers a number
   * over it. A value of a type the walk does not know (an {@code Instant}, bytes) is over any limit: measure it.
   */
  public static long atMost(Object value, long limit) {
    return walk(value, 0, limit);
  }

  /** Whether {@code value} surely encodes to at most {@code limit} bytes (false: it may not; encode to know). */
  public static boolean surelyWithin(Object value, long limit) {
    return atMost(value, limit) <= limit;
  }

  private static long walk(Object value, long sofar, long limit) {
    if (sofar > limit) {
      return sofar;
    }
    if (value == null) {
      return sofar + 4;
    }
    if (value instanceof CharSequence s) {
      return sofar + 2 + PER_CHAR * s.length();
    }
    if (value instanceof Boolean) {
      return sofar + 5;
    }
    if (value instanceof Integer || value instanceof Long || value instanceof Short || value instanceof Byte) {
      return sofar + 20;
    }
    if (value instanceof Double || value instanceof Float) {
      return sofar + 25;
    }
    if (value instanceof Number n) {
      return sofar + String.valueOf(n).length();
    }
    if (value instanceof JsonObject o) {
      return walkMap(o.getMap(), sofar, limit);
    }
    if (value instanceof Map<?, ?> m) {
      return walkMap(m, sofar, limit);
    }
    if (value instanceof JsonArray a) {
      return walkList(a.getList(), sofar, limit);
    }
    if (value instanceof List<?> l) {
      return walkList(l, sofar, limit);
    }
    return Long.MAX_VALUE;
  }

  private static long walkMap(Map<?, ?> map, long sofar, long limit) {
    long size = sofar + 2;
    for (Map.Entry<?, ?> e : map.entrySet()) {
      // The key, a colon and a comma.
      size = walk(e.getValue(), size + 2 + PER_CHAR * String.valueOf(e.getKey()).length() + 2, limit);
      if (size > limit) {
        return size;
      }
    }
    return size;
  }

  private static long walkList(List<?> list, long sofar, long limit) {
    long size = sofar + 2;
    for (Object v : list) {
      size = walk(v, size + 1, limit);
      if (size > limit) {
        return size;
      }
    }
    return size;
  }
}
