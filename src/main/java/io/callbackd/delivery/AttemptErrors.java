package io.callbackd.delivery;

import io.callbackd.config.Durations;
import io.vertx.core.http.HttpClosedException;

import java.net.ConnectException;
import java.net.NoRouteToHostException;
import java.net.UnknownHostException;
import java.nio.channels.ClosedChannelException;
import java.time.Duration;
import java.util.concurrent.TimeoutException;

/** Short, stable reasons for attempts that got no HTTP response, as written to {@code callback_error}. */
public final class AttemptErrors {

  private AttemptErrors() {
  }

  public static AttemptResult.Kind kind(Throwable err) {
    Throwable root = root(err);
    if (root instanceof TimeoutException || isTimeout(root)) {
      return AttemptResult.Kind.TIMEOUT;
    }
    return AttemptResult.Kind.CONNECT_ERROR;
  }

  public static String describe(Throwable err, Duration timeout) {
    Throwable root = root(err);
    if (root instanceof TimeoutException || isTimeout(root)) {
      return "timeout after " + Durations.format(timeout);
    }
    String msg = root.getMessage() == null ? "" : root.getMessage();
    if (isTls(err)) {
      // The receiver's certificate was not trusted, or the handshake failed: never worked around (no trust-all).
      return "TLS error: " + firstLine(msg.isEmpty() ? root.getClass().getSimpleName() : msg);
    }
    if (root instanceof UnknownHostException) {
      return "unknown host " + msg.replaceAll(":.*", "");
    }
    if (root instanceof ConnectException || msg.contains("Connection refused")) {
      return msg.contains("refused") || msg.isEmpty() ? "connection refused" : "connect failed: " + firstLine(msg);
    }
    if (root instanceof NoRouteToHostException) {
      return "no route to host";
    }
    if (root instanceof HttpClosedException || root instanceof ClosedChannelException
      || msg.contains("Connection reset")) {
      return msg.contains("reset") ? "connection reset" : "connection closed before the response";
    }
    return root.getClass().getSimpleName() + (msg.isEmpty() ? "" : ": " + firstLine(msg));
  }

  private static boolean isTls(Throwable err) {
    Throwable t = err;
    for (int depth = 0; t != null && depth < 32; depth++, t = t.getCause() == t ? null : t.getCause()) {
      if (t instanceof javax.net.ssl.SSLException || t instanceof java.security.GeneralSecurityException) {
        return true;
      }
    }
    return false;
  }

  private static boolean isTimeout(Throwable t) {
    String name = t.getClass().getSimpleName();
    return name.contains("Timeout");
  }

  private static Throwable root(Throwable err) {
    Throwable t = err;
    // Bounded: a cause chain can be made into a cycle.
    for (int depth = 0; depth < 32 && t.getCause() != null && t.getCause() != t; depth++) {
      t = t.getCause();
    }
    return t;
  }

  private static String firstLine(String msg) {
    String line = msg.split("\n", 2)[0];
    return line.length() > 200 ? line.substring(0, 200) : line;
  }
}
