package io.callbackd.api;

import io.callbackd.support.RunningCallbackd;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The HTTP API closes connections that carry nothing for {@code http_idle_timeout}: one that never sent a request,
 * and a kept-alive one after its last answer.
 */
@ExtendWith(VertxExtension.class)
class HttpIdleTimeoutTest {

  /** Reads until the server closes the connection; false if it stays open for {@code seconds}. */
  private static boolean closedByServer(Socket socket, int seconds) throws IOException {
    socket.setSoTimeout(seconds * 1000);
    InputStream in = socket.getInputStream();
    byte[] buf = new byte[8192];
    try {
      while (true) {
        if (in.read(buf) < 0) {
          return true;
        }
      }
    } catch (SocketTimeoutException e) {
      return false;
    }
  }

  @Test
  void idleConnectionsAreClosed(Vertx vertx) throws IOException {
    try (RunningCallbackd callbackd = new RunningCallbackd(vertx, new JsonObject().put("http_idle_timeout", "1s"))) {
      int port = callbackd.app().httpPort();
      try (Socket silent = new Socket("127.0.0.1", port)) {
        assertTrue(closedByServer(silent, 15), "a connection that never sent a request is closed");
      }
      try (Socket kept = new Socket("127.0.0.1", port)) {
        OutputStream out = kept.getOutputStream();
        out.write("GET /health/live HTTP/1.1\r\nHost: callbackd\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
        out.flush();
        kept.setSoTimeout(15_000);
        byte[] head = kept.getInputStream().readNBytes(12);
        assertEquals("HTTP/1.1 200", new String(head, StandardCharsets.US_ASCII));
        assertTrue(closedByServer(kept, 15), "a kept-alive connection is closed once idle");
      }
    }
  }

  @Test
  void zeroKeepsThemOpen(Vertx vertx) throws IOException {
    try (RunningCallbackd callbackd = new RunningCallbackd(vertx, new JsonObject().put("http_idle_timeout", "0s"));
         Socket silent = new Socket("127.0.0.1", callbackd.app().httpPort())) {
      assertTrue(!closedByServer(silent, 3), "with 0s the connection stays open");
    }
  }
}
