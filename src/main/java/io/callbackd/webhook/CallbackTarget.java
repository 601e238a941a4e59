package io.callbackd.webhook;

import java.net.URI;
import java.util.Locale;

/** Where one callback goes, split the way a connection needs it: TLS or not, host, port, and the request URI. */
public record CallbackTarget(boolean ssl, String host, int port, String requestUri) {

  /** Parses an absolute http(s) URL; null when it is not one (a platform may write anything into the table). */
  public static CallbackTarget parse(String url) {
    try {
      URI u = new URI(url);
      String scheme = u.getScheme() == null ? "" : u.getScheme().toLowerCase(Locale.ROOT);
      if (!scheme.equals("http") && !scheme.equals("https")) {
        return null;
      }
      if (u.getHost() == null || u.getRawUserInfo() != null) {
        return null;
      }
      boolean ssl = scheme.equals("https");
      int port = u.getPort() > 0 ? u.getPort() : ssl ? 443 : 80;
      String path = u.getRawPath() == null || u.getRawPath().isEmpty() ? "/" : u.getRawPath();
      String uri = u.getRawQuery() == null ? path : path + "?" + u.getRawQuery();
      String host = u.getHost();
      if (host.startsWith("[") && host.endsWith("]")) {
        host = host.substring(1, host.length() - 1);
      }
      return new CallbackTarget(ssl, host, port, uri);
    } catch (Exception e) {
      return null;
    }
  }
}
