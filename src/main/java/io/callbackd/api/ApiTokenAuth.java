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

  private static final String PREFIX = "Bearer ";
  private final List<byte[]> digests = new ArrayList<>();

  ApiTokenAuth(List<String> tokens) {
    for (String t : tokens) {
      digests.add(sha256(t));
    }
  }

  @Override
  public void handle(RoutingContext ctx) {
    String header = ctx.request().getHeader("authorization");
    if (header == null || !header.regionMatches(true, 0, PREFIX, 0, PREFIX.length())) {
      deny(ctx, "missing Authorization: Bearer <token> header");
      return;
    }
    byte[] presented = sha256(header.substring(PREFIX.length()).trim());
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
