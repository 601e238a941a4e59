package io.callbackd.api;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * A request body's schema from the contract, turned at start-up into direct checks that can only say "surely
 * valid": a body they accept satisfies the schema; anything else (a refusal, or a value they cannot judge exactly,
 * such as {@code 1.0} for an integer or a string past its length limit in UTF-16 units) goes to the contract's
 * generic JSON-schema validator, which decides and words the refusal. The generic validator walks the schema through
 * its keyword interpreter and builds an output tree for every value; for the bodies platforms send for every run
 * (flat objects of strings, numbers and objects) the checks here cost a few field look-ups.
 *
 * <p>Only the keywords listed in {@link #KEYWORDS} are understood; a schema using any other (a {@code pattern}, a
 * {@code oneOf}, a string {@code format}, a type array...) compiles to nothing, and every body then goes to the
 * generic validator, so that a change to the contract can never be checked less strictly than it says.
 */
final class BodySchemaFastPath {

  /** Where the contract loader notes each schema's own URI; no assertion. */
  private static final String BOOKKEEPING = "__absolute_uri__";

  /** The keywords compiled; annotations that assert nothing are accepted and ignored. */
  static final Set<String> KEYWORDS = Set.of("type", "properties", "required", "additionalProperties",
    "minProperties", "maxProperties", "enum", "minLength", "maxLength", "minimum", "maximum", "format", "$ref",
    "description", "title", "example", "examples", BOOKKEEPING);

  /** The base URI vertx-openapi resolves the contract's own references against. */
  private static final String CONTRACT_BASE = "app:///";

  private final Check root;

  private BodySchemaFastPath(Check root) {
    this.root = root;
  }

  /** The checks for {@code schema} ({@code $ref}s resolved in {@code contract}), or null when it uses more. */
  static BodySchemaFastPath compile(JsonObject schema, JsonObject contract) {
    Check root = compile(schema, contract, 0);
    return root == null ? null : new BodySchemaFastPath(root);
  }

  /** True only when {@code body} surely satisfies the schema; false means "ask the generic validator". */
  boolean surelyValid(Object body) {
    return root.accepts(body);
  }

  private interface Check {
    boolean accepts(Object value);
  }

  private static Check compile(JsonObject s, JsonObject contract, int depth) {
    if (s == null || depth > 32) {
      return null;
    }
    for (String k : s.fieldNames()) {
      if (!KEYWORDS.contains(k)) {
        return null;
      }
    }
    if (s.containsKey("$ref")) {
      // A reference alone (its siblings would apply beside it): the referenced schema's checks.
      if (s.size() != (s.containsKey(BOOKKEEPING) ? 2 : 1) || !(s.getValue("$ref") instanceof String)) {
        return null;
      }
      return compile(resolve(contract, s.getString("$ref")), contract, depth + 1);
    }
    if (!(s.getValue("type") instanceof String)) {
      return null;
    }
    String type = s.getString("type");
    switch (type) {
      case "object":
        return object(s, contract, depth);
      case "string":
        return string(s);
      case "integer":
        return integer(s);
      case "boolean":
        return onlyKeywords(s, Set.of()) ? v -> v instanceof Boolean : null;
      default:
        return null;
    }
  }

  /** True when {@code s} uses no assertion but {@code type} and {@code allowed}. */
  private static boolean onlyKeywords(JsonObject s, Set<String> allowed) {
    for (String k : s.fieldNames()) {
      boolean annotation = k.equals("description") || k.equals("title") || k.equals("example")
        || k.equals("examples") || k.equals(BOOKKEEPING);
      if (!k.equals("type") && !annotation && !allowed.contains(k)) {
        return false;
      }
    }
    return true;
  }

  private static Check object(JsonObject s, JsonObject contract, int depth) {
    if (!onlyKeywords(s, Set.of("properties", "required", "additionalProperties", "minProperties",
      "maxProperties"))) {
      return null;
    }
    Map<String, Check> properties = new HashMap<>();
    Object props = s.getValue("properties");
    if (props != null) {
      if (!(props instanceof JsonObject)) {
        return null;
      }
      for (Map.Entry<String, Object> e : (JsonObject) props) {
        if (!(e.getValue() instanceof JsonObject)) {
          return null;
        }
        Check c = compile((JsonObject) e.getValue(), contract, depth + 1);
        if (c == null) {
          return null;
        }
        properties.put(e.getKey(), c);
      }
    }
    Set<String> required = new HashSet<>();
    Object req = s.getValue("required");
    if (req != null) {
      if (array(req) == null) {
        return null;
      }
      for (Object r : array(req)) {
        if (!(r instanceof String)) {
          return null;
        }
        required.add((String) r);
      }
    }
    Object additional = s.getValue("additionalProperties", true);
    if (!(additional instanceof Boolean)) {
      return null;
    }
    boolean additionalAllowed = (Boolean) additional;
    Integer minProperties = count(s, "minProperties");
    Integer maxProperties = count(s, "maxProperties");
    if (minProperties == null || maxProperties == null) {
      return null;
    }
    int min = minProperties;
    int max = maxProperties;
    return v -> {
      if (!(v instanceof JsonObject)) {
        return false;
      }
      JsonObject o = (JsonObject) v;
      int size = o.size();
      if (size < min || size > max) {
        return false;
      }
      for (String r : required) {
        if (!o.containsKey(r)) {
          return false;
        }
      }
      for (Map.Entry<String, Object> e : o) {
        Check c = properties.get(e.getKey());
        if (c == null) {
          if (!additionalAllowed) {
            return false;
          }
        } else if (!c.accepts(e.getValue())) {
          return false;
        }
      }
      return true;
    };
  }

  /** A non-negative whole-number keyword; absent: no bound (min 0, max Integer.MAX_VALUE); null when unusable. */
  private static Integer count(JsonObject s, String key) {
    Object v = s.getValue(key);
    if (v == null) {
      return key.startsWith("min") ? 0 : Integer.MAX_VALUE;
    }
    if (v instanceof Integer && (Integer) v >= 0) {
      return (Integer) v;
    }
    return null;
  }

  /**
   * Lengths in JSON Schema count code points; a string is surely within {@code maxLength} when its UTF-16 length
   * is (there are never more code points than UTF-16 units), and surely at least {@code minLength} when its code
   * points are (never more code points than units either way).
   */
  private static Check string(JsonObject s) {
    if (!onlyKeywords(s, Set.of("enum", "minLength", "maxLength"))) {
      return null;
    }
    Integer minLength = count(s, "minLength");
    Integer maxLength = count(s, "maxLength");
    if (minLength == null || maxLength == null) {
      return null;
    }
    Set<String> allowed = null;
    if (s.containsKey("enum")) {
      if (array(s.getValue("enum")) == null) {
        return null;
      }
      allowed = new HashSet<>();
      for (Object e : array(s.getValue("enum"))) {
        if (!(e instanceof String)) {
          return null;
        }
        allowed.add((String) e);
      }
    }
    int min = minLength;
    int max = maxLength;
    Set<String> values = allowed;
    return v -> {
      if (!(v instanceof String)) {
        return false;
      }
      String str = (String) v;
      int units = str.length();
      if (units > max) {
        return false;
      }
      if (min > 0 && (units < min || str.codePointCount(0, units) < min)) {
        return false;
      }
      return values == null || values.contains(str);
    };
  }

  /** Whole numbers parsed as int or long, within bounds that are themselves whole numbers of the long range. */
  private static Check integer(JsonObject s) {
    if (!onlyKeywords(s, Set.of("minimum", "maximum", "format"))) {
      return null;
    }
    Object format = s.getValue("format");
    if (format != null && !format.equals("int64")) {
      return null;
    }
    Long min = bound(s.getValue("minimum"), Long.MIN_VALUE);
    Long max = bound(s.getValue("maximum"), Long.MAX_VALUE);
    if (min == null || max == null) {
      return null;
    }
    long lo = min;
    long hi = max;
    return v -> {
      if (!(v instanceof Integer || v instanceof Long)) {
        return false;
      }
      long n = ((Number) v).longValue();
      return n >= lo && n <= hi;
    };
  }

  private static Long bound(Object v, long absent) {
    if (v == null) {
      return absent;
    }
    if (v instanceof Integer || v instanceof Long) {
      return ((Number) v).longValue();
    }
    try {
      if (v instanceof BigInteger) {
        return ((BigInteger) v).longValueExact();
      }
      if (v instanceof Number) {
        return new BigDecimal(v.toString()).longValueExact();
      }
    } catch (ArithmeticException | NumberFormatException e) {
      return null;
    }
    return null;
  }

  private static Iterable<?> array(Object v) {
    return v instanceof JsonArray ? (JsonArray) v : v instanceof java.util.List ? (java.util.List<?>) v : null;
  }

  /**
   * A reference into the contract itself, {@code #/components/schemas/NewRun} as written, or with the base the
   * contract loader gives the document it read ({@code app:///#/...}); null for anything else.
   */
  private static JsonObject resolve(JsonObject contract, String ref) {
    String pointer;
    if (ref.startsWith("#/")) {
      pointer = ref.substring(2);
    } else if (ref.startsWith(CONTRACT_BASE + "#/")) {
      pointer = ref.substring(CONTRACT_BASE.length() + 2);
    } else {
      return null;
    }
    Object cur = contract;
    for (String part : pointer.split("/", -1)) {
      String key = part.replace("~1", "/").replace("~0", "~");
      if (!(cur instanceof JsonObject)) {
        return null;
      }
      cur = ((JsonObject) cur).getValue(key);
    }
    return cur instanceof JsonObject ? (JsonObject) cur : null;
  }
}
