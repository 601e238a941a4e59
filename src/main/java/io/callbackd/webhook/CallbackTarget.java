package io.callbackd.webhook;

import java.net.URI;
import java.net.URISyntaxException;
import java.util.Locale;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Where one callback goes, split the way a connection needs it: TLS or not, host, port, and the request URI. */
public record CallbackTarget(boolean ssl, String host, int port, String requestUri) {

  /** The longest callback URL callbackd sends to, as the API accepts it. */
  public static final int MAX_URL_LENGTH = 2048;
  /** The longest DNS name (RFC 1035: 255 octets on the wire, 253 characters written out). */
  public static final int MAX_HOST_LENGTH = 253;

  // The same rules as callbackd.origin() in the database (migration V13, V19), which keys a callback by its destination
  // when the platform writes the runs table directly: a URL refused here is filed there under 'invalid'.
  private static final Pattern SHAPE = Pattern.compile(
    "^([A-Za-z][A-Za-z0-9+.-]*)://([^@/?#]*@)?(\\[[^\\]/?#]*\\]|[^:/?#]*)(:[^/?#]*)?(?:[/?#].*)?$", Pattern.DOTALL);
  private static final Pattern HOST = Pattern.compile(
    "^(\\[[0-9a-f:.]+\\]|[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\\.?)$");
  private static final Pattern PORT = Pattern.compile("^[0-9]{1,5}$");
  private static final String PREFIX = "invalid callback_url: ";

  /*
   * URLs repeat: a platform sends most of its callbacks to a few receivers. Checking and splitting a URL (two regular
   * expressions and a java.net.URI) is done once while it is remembered here, bounded so that many distinct URLs cost
   * nothing but a fresh start.
   */
  private static final int REMEMBERED_URLS = 1024;
  private static final ConcurrentHashMap<String, Checked> CHECKED = new ConcurrentHashMap<>();

  /** A URL's check: why it cannot be a destination, or where it goes. */
  private record Checked(String problem, CallbackTarget target) {
  }

  private static Checked checked(String url) {
    if (url == null || url.length() > MAX_URL_LENGTH) {
      return check(url);
    }
    Checked known = CHECKED.get(url);
    if (known == null) {
      known = check(url);
      if (CHECKED.size() >= REMEMBERED_URLS) {
        CHECKED.clear();
      }
      CHECKED.put(url, known);
    }
    return known;
  }

  private static Checked check(String url) {
    String problem = problemOf(url);
    return new Checked(problem, problem == null ? split(url) : null);
  }

  /** Parses an absolute http(s) URL; null when it cannot be a destination (a platform may write anything). */
  /**
   * The request's {@code Host} header: the host (an IPv6 literal in brackets, as a URL writes it) with the port
   * unless it is the scheme's default.
   */
  public String hostHeader() {
    String h = host.indexOf(':') >= 0 ? "[" + host + "]" : host;
    return port == (ssl ? 443 : 80) ? h : h + ":" + port;
  }

  public static CallbackTarget parse(String url) {
    return checked(url).target();
  }

  private static CallbackTarget split(String url) {
    try {
      URI u = new URI(url);
      boolean ssl = u.getScheme().toLowerCase(Locale.ROOT).equals("https");
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

  /**
   * Why {@code url} cannot be a callback's destination, as written to {@code callback_error} (for example
   * {@code invalid callback_url: host longer than 253 characters}), or null when it can. The reason is short and
   * never repeats the URL, which may be long or hold secrets.
   */
  public static String problem(String url) {
    return checked(url).problem();
  }

  private static String problemOf(String url) {
    if (url == null || url.isEmpty()) {
      return PREFIX + "empty";
    }
    Matcher m = SHAPE.matcher(url);
    if (!m.matches()) {
      return PREFIX + "not an absolute http or https URL";
    }
    String scheme = m.group(1).toLowerCase(Locale.ROOT);
    if (!scheme.equals("http") && !scheme.equals("https")) {
      return PREFIX + "unsupported scheme " + (scheme.length() > 16 ? scheme.substring(0, 16) + "…" : scheme)
        + " (only http and https)";
    }
    if (m.group(2) != null) {
      return PREFIX + "carries user-info (user:password@)";
    }
    String host = m.group(3).toLowerCase(Locale.ROOT);
    if (host.isEmpty()) {
      return PREFIX + "no host";
    }
    if (host.length() > MAX_HOST_LENGTH) {
      return PREFIX + "host longer than " + MAX_HOST_LENGTH + " characters";
    }
    if (!HOST.matcher(host).matches()) {
      return PREFIX + "host is not a DNS name or an IP address";
    }
    String port = m.group(4) == null || m.group(4).equals(":") ? null : m.group(4).substring(1);
    if (port != null && (!PORT.matcher(port).matches() || Integer.parseInt(port) < 1
      || Integer.parseInt(port) > 65535)) {
      return PREFIX + "port is not a number between 1 and 65535";
    }
    // After the host's checks, so that a URL too long because of its host says so.
    if (url.length() > MAX_URL_LENGTH) {
      return PREFIX + "longer than " + MAX_URL_LENGTH + " characters";
    }
    try {
      URI u = new URI(url);
      if (u.getHost() == null) {
        return PREFIX + "host is not a DNS name or an IP address";
      }
    } catch (URISyntaxException e) {
      return PREFIX + e.getReason().toLowerCase(Locale.ROOT);
    }
    return null;
  }
}
