package io.callbackd.api;

import io.vertx.core.Handler;
import io.vertx.ext.web.RoutingContext;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.List;

/**
 * Bearer-token check for the {@code /v1} routes. Tokens are compared as SHA-256 digests with
 * {@link MessageDigest#isEqual}, so neither the content nor the length of a token leaks through response timing, and
 * every configured token is compared each time.
 */
final class ApiTokenAuth implements Handler<RoutingContext> {

  private static final String SCHEME = "Bearer";
  private final List<byte[]> digests = new ArrayList<>();

  ApiTokenAuth(List<String> tokens) {
    for (String t : tokens) {
      digests.add(sha256(t));
    }
  }

  @Override
  public void handle(RoutingContext ctx) {
    String header = ctx.request().getHeader("authorization");
    if (header == null) {
      deny(ctx, "missing Authorization: Bearer <token> header");
      return;
    }
    String token = bearerToken(header);
    if (token == null) {
      deny(ctx, "the Authorization header must be Bearer <token>; other schemes are not accepted");
      return;
    }
    if (token.isEmpty()) {
      deny(ctx, "the Authorization header's bearer token is empty");
      return;
    }
    byte[] presented = sha256(token);
    boolean ok = false;
    for (byte[] d : digests) {
      ok |= MessageDigest.isEqual(d, presented);
    }
    if (ok) {
      ctx.next();
    } else {
      deny(ctx, "invalid API token");
    }
  }

  /**
   * The token of {@code Bearer <token>}: the scheme's name in any case (RFC 7235), then one or more spaces; empty
   * when nothing follows; null for another scheme.
   */
  static String bearerToken(String header) {
    String h = header.strip();
    if (!h.regionMatches(true, 0, SCHEME, 0, SCHEME.length())) {
      return null;
    }
    if (h.length() == SCHEME.length()) {
      return "";
    }
    char next = h.charAt(SCHEME.length());
    if (next != ' ' && next != '\t') {
      return null;
    }
    return h.substring(SCHEME.length()).strip();
  }

  private static void deny(RoutingContext ctx, String message) {
    ctx.response().putHeader("www-authenticate", "Bearer realm=\"callbackd\"");
    ApiError.send(ctx, 401, "authorization", message);
  }

  private static byte[] sha256(String s) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
