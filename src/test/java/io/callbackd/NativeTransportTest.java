package io.callbackd;

import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.VerticleBase;
import org.junit.jupiter.api.Test;

import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * callbackd's Vert.x runs on Netty's native epoll transport on Linux, the platforms whose libraries it ships, with the
 * event-loop threads that {@code event_loops} asks for.
 */
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
    Vertx vertx = Vertx.builder().with(Main.vertxOptions(1)).build();
    try {
      assertNull(vertx.unavailableNativeTransportCause());
      assertTrue(vertx.isNativeTransportEnabled());
    } finally {
      vertx.close().await();
    }
  }

  /** Verticles (callbackd deploys seven kinds, and dispatchers by the instance) share the event loops asked for. */
  @Test
  void verticlesShareTheEventLoopsAskedFor() {
    Vertx vertx = Vertx.builder().with(Main.vertxOptions(3)).build();
    try {
      Set<String> threads = ConcurrentHashMap.newKeySet();
      vertx.deployVerticle(() -> new VerticleBase() {
        @Override
        public Future<?> start() {
          threads.add(Thread.currentThread().getName());
          return Future.succeededFuture();
        }
      }, new DeploymentOptions().setInstances(8)).await();
      // Three: never Vert.x's own default (twice the processors), so an option left unapplied cannot pass.
      assertEquals(3, threads.size(), "eight verticles on the three event loops asked for: " + threads);
    } finally {
      vertx.close().await();
    }
  }
}
