package io.callbackd.runs;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * What {@code GET /v1/runs} asks for, read from Letta's query parameters the way Letta's server reads them: a
 * {@code statuses} filter wins over {@code active}; {@code agent_id} wins over the deprecated {@code agent_ids}; the
 * deprecated {@code ascending=true} wins over {@code order}. An empty value counts as absent: it is what Letta's client
 * sends for a parameter given as {@code null}. Unknown parameters are ignored, as Letta ignores them.
 *
 * @param agentIds       runs of these agents only (empty: any agent)
 * @param statuses       runs in these statuses only (empty: any status)
 * @param conversationId runs of this conversation only, or null
 * @param background     runs with this {@code background} flag only, or null
 * @param stopReason     runs with this stop reason only, or null
 * @param before         the run id whose preceding runs (in the sort order) are wanted, or null
 * @param after          the run id whose following runs (in the sort order) are wanted, or null
 * @param limit          most runs answered
 * @param ascending      oldest first (by {@code created_at}, then {@code id}); newest first otherwise
 */
public record RunListQuery(List<String> agentIds, List<String> statuses, String conversationId, Boolean background,
                           String stopReason, String before, String after, int limit, boolean ascending) {

  /** Letta's default page size and its largest. */
  public static final int DEFAULT_LIMIT = 100;
  public static final int MAX_LIMIT = 1000;
  /** Longest id accepted in a filter or cursor, as in the run routes' paths. */
  static final int MAX_ID = 4096;
  /** Most values of a repeated parameter: a bound on the statement's size. */
  static final int MAX_VALUES = 100;

  /** Letta's {@code StopReasonType}. */
  public static final List<String> STOP_REASONS = List.of("end_turn", "error", "llm_api_error",
    "invalid_llm_response", "invalid_tool_call", "max_steps", "max_tokens_exceeded", "no_tool_call", "tool_rule",
    "cancelled", "insufficient_credits", "requires_approval", "context_window_overflow_in_system_prompt");

  /** Runs not yet in a terminal status: what {@code active=true} lists. */
  public static final List<String> ACTIVE = List.of("created", "running");

  public RunListQuery {
    agentIds = List.copyOf(agentIds);
    statuses = List.copyOf(statuses);
  }

  /**
   * @param params every query parameter with all its values, in the order given
   * @throws InvalidInputException naming the parameter whose value cannot be used
   */
  public static RunListQuery parse(Map<String, List<String>> params) {
    String agentId = id(params, "agent_id");
    List<String> agentIds = agentId != null ? List.of(agentId) : ids(params, "agent_ids");
    List<String> statuses = new ArrayList<>();
    for (String s : values(params, "statuses")) {
      if (!RunStatus.isKnown(s)) {
        throw new InvalidInputException("statuses", "statuses: " + s + " is not a run status; one of "
          + RunStatus.ALL);
      }
      if (!statuses.contains(s)) {
        statuses.add(s);
      }
    }
    Boolean active = bool(params, "active");
    if (statuses.isEmpty() && Boolean.TRUE.equals(active)) {
      statuses.addAll(ACTIVE);
    }
    String stopReason = single(params, "stop_reason");
    if (stopReason != null && !STOP_REASONS.contains(stopReason)) {
      throw new InvalidInputException("stop_reason", "stop_reason must be one of " + STOP_REASONS);
    }
    String order = single(params, "order");
    if (order != null && !order.equals("asc") && !order.equals("desc")) {
      throw new InvalidInputException("order", "order must be asc or desc");
    }
    String orderBy = single(params, "order_by");
    if (orderBy != null && !orderBy.equals("created_at")) {
      throw new InvalidInputException("order_by", "order_by must be created_at, the only order runs are listed in");
    }
    Boolean ascending = bool(params, "ascending");
    boolean asc = Boolean.TRUE.equals(ascending) || "asc".equals(order);
    return new RunListQuery(agentIds, statuses, id(params, "conversation_id"), bool(params, "background"),
      stopReason, id(params, "before"), id(params, "after"), limit(params), asc);
  }

  /** The non-empty values of a parameter that may be repeated. */
  private static List<String> values(Map<String, List<String>> params, String name) {
    List<String> out = new ArrayList<>();
    for (String v : params.getOrDefault(name, List.of())) {
      if (v != null && !v.isEmpty()) {
        // A NUL or an unpaired surrogate cannot be looked up: refused naming the parameter, not by PostgreSQL.
        StorableJson.checkText(name, v);
        out.add(v);
      }
    }
    if (out.size() > MAX_VALUES) {
      throw new InvalidInputException(name, name + " may be given at most " + MAX_VALUES + " times");
    }
    return out;
  }

  /** The value of a single-valued parameter (the last one when repeated, as Letta takes it), or null. */
  private static String single(Map<String, List<String>> params, String name) {
    List<String> all = params.getOrDefault(name, List.of());
    String v = all.isEmpty() ? null : all.get(all.size() - 1);
    StorableJson.checkText(name, v);
    return v == null || v.isEmpty() ? null : v;
  }

  private static String id(Map<String, List<String>> params, String name) {
    String v = single(params, name);
    if (v != null && v.length() > MAX_ID) {
      throw new InvalidInputException(name, name + " must be at most " + MAX_ID + " characters");
    }
    return v;
  }

  private static List<String> ids(Map<String, List<String>> params, String name) {
    List<String> out = new ArrayList<>();
    for (String v : values(params, name)) {
      if (v.length() > MAX_ID) {
        throw new InvalidInputException(name, name + " values must be at most " + MAX_ID + " characters");
      }
      if (!out.contains(v)) {
        out.add(v);
      }
    }
    return out;
  }

  private static Boolean bool(Map<String, List<String>> params, String name) {
    String v = single(params, name);
    if (v == null) {
      return null;
    }
    switch (v.toLowerCase(Locale.ROOT)) {
      case "true":
        return true;
      case "false":
        return false;
      default:
        throw new InvalidInputException(name, name + " must be true or false");
    }
  }

  private static int limit(Map<String, List<String>> params) {
    String v = single(params, "limit");
    if (v == null) {
      return DEFAULT_LIMIT;
    }
    try {
      int n = Integer.parseInt(v);
      if (n >= 1 && n <= MAX_LIMIT) {
        return n;
      }
    } catch (NumberFormatException e) {
      // refused below
    }
    throw new InvalidInputException("limit", "limit must be a whole number from 1 to " + MAX_LIMIT);
  }
}
