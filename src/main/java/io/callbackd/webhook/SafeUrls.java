package io.callbackd.webhook;

import java.net.URI;

/** Callback URLs as they may appear in logs: query strings and user-info often carry tokens, so they never do. */
public final class SafeUrls {

  private SafeUrls() {
  }

  public static String forLog(String url) {
    if (url == null) {
      return null;
    }
    try {
      URI u = new URI(url);
      String host = u.getHost() == null ? "?" : u.getHost();
      String port = u.getPort() < 0 ? "" : ":" + u.getPort();
      String path = u.getRawPath() == null ? "" : u.getRawPath();
      return u.getScheme() + "://" + host + port + path + (u.getRawQuery() != null ? "?…" : "");
    } catch (Exception e) {
      int cut = url.indexOf('?');
      return (cut < 0 ? url : url.substring(0, cut) + "?…").replaceAll("://[^/]*@", "://");
    }
  }
}
