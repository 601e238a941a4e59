package io.callbackd;

import io.vertx.core.Vertx;
import org.junit.jupiter.api.Test;

import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** callbackd's Vert.x runs on Netty's native epoll transport on Linux, the platforms whose libraries it ships. */
class NativeTransportTest {

  /** Whether the build ships Netty's native transport for this machine (Linux on x86-64 or arm64). */
  static boolean shippedHere() {
    String os = System.getProperty("os.name").toLowerCase(Locale.ROOT);
    String arch = System.getProperty("os.arch").toLowerCase(Locale.ROOT);
    return os.contains("linux") && (arch.equals("amd64") || arch.equals("x86_64") || arch.equals("aarch64"));
  }

  @Test
  void linuxRunsOnTheNativeTransport() {
    // CI runs on Linux x86-64, where this test runs.
    assumeTrue(shippedHere(), "no native transport is shipped for " + System.getProperty("os.name") + "/"
      + System.getProperty("os.arch"));
    Vertx vertx = Vertx.builder().with(Main.vertxOptions()).build();
    try {
      assertNull(vertx.unavailableNativeTransportCause());
      assertTrue(vertx.isNativeTransportEnabled());
    } finally {
      vertx.close().await();
    }
  }
}
