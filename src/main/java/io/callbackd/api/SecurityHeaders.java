package io.callbackd.api;

import io.vertx.core.MultiMap;
import io.vertx.ext.web.RoutingContext;

/**
 * The headers every response carries, whatever answers it (the API, the console, health, metrics, error pages,
 * requests refused before routing): a Content-Security-Policy that forbids framing ({@code frame-ancestors 'none'},
 * which only works as a header, never in a {@code <meta>} tag), {@code X-Frame-Options} for browsers older than
 * that, {@code X-Content-Type-Options: nosniff} so JSON and text are never run as script or styles, and
 * {@code Referrer-Policy: no-referrer} so no URL of the console leaks to anywhere.
 */
final class SecurityHeaders {

  /** The console's pages: everything from this server, nothing inline, no framing. */
  static final String CONSOLE_POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; "
    + "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
  /** Everything else is data (JSON, Prometheus text): nothing in it may load or run anything. */
  static final String DATA_POLICY = "default-src 'none'; base-uri 'none'; form-action 'none'; "
    + "frame-ancestors 'none'";

  private SecurityHeaders() {
  }

  /** Router handler, first of all: the headers are set just before the response's head goes out. */
  static void handle(RoutingContext ctx) {
    ctx.addHeadersEndHandler(v -> apply(ctx.request().path(), ctx.response().headers()));
    ctx.next();
  }

  static void apply(String path, MultiMap headers) {
    boolean console = path != null && (path.equals(ApiVerticle.CONSOLE)
      || path.startsWith(ApiVerticle.CONSOLE + "/"));
    headers.set("content-security-policy", console ? CONSOLE_POLICY : DATA_POLICY);
    headers.set("x-frame-options", "DENY");
    headers.set("x-content-type-options", "nosniff");
    headers.set("referrer-policy", "no-referrer");
  }
}
