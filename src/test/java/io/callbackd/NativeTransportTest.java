package io.callbackd;

import io.vertx.core.Vertx;
import org.junit.jupiter.api.Test;

import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** callbackd's Vert.x runs on Netty's native epoll transport on Linux, the platforms whose libraries it ships. */
class NativeTransportTest {

  @Test
  void linuxRunsOnTheNativeTransport() {
    String os = System.getProperty("os.name").toLowerCase(Locale.ROOT);
    String arch = System.getProperty("os.arch").toLowerCase(Locale.ROOT);
    boolean shipped = os.contains("linux") && (arch.equals("amd64") || arch.equals("x86_64") || arch.equals("aarch64"));
    // CI runs on Linux x86-64, where this test runs.
    assumeTrue(shipped, "no native transport is shipped for " + os + "/" + arch);
    Vertx vertx = Vertx.builder().with(Main.vertxOptions()).build();
    try {
      assertNull(vertx.unavailableNativeTransportCause());
      assertTrue(vertx.isNativeTransportEnabled());
    } finally {
      vertx.close().await();
    }
  }
}
