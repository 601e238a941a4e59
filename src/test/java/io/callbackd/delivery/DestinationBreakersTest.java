package io.callbackd.delivery;

import io.callbackd.support.Await;
import io.vertx.circuitbreaker.CircuitBreakerState;
import io.vertx.core.Vertx;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

/** Breakers per destination: one each, counted by state, and dropped when idle unless open. */
@ExtendWith(VertxExtension.class)
class DestinationBreakersTest {

  @Test
  void oneBreakerPerDestinationCountedByState(Vertx vertx) {
    DestinationBreakers breakers = new DestinationBreakers(vertx, 2, Duration.ofSeconds(30), Duration.ofMinutes(10));
    assertSame(breakers.forDestination("https://a.example:443"), breakers.forDestination("https://a.example:443"));
    breakers.forDestination("https://b.example:443").open();
    assertEquals(2, breakers.size());
    assertEquals(CircuitBreakerState.OPEN, breakers.state("https://b.example:443"));
    assertEquals(CircuitBreakerState.CLOSED, breakers.state("https://never-seen.example:443"));
    assertEquals(1, breakers.countByState().get("open"));
    assertEquals(1, breakers.countByState().get("closed"));
    long retryAt = breakers.retryAtMillis("https://b.example:443");
    long now = System.currentTimeMillis();
    assertEquals(true, retryAt > now + 25_000 && retryAt <= now + 30_000, "postponed to the reset time");
    breakers.closeAll();
  }

  @Test
  void idleClosedBreakersAreEvictedOpenOnesStay(Vertx vertx) {
    DestinationBreakers breakers = new DestinationBreakers(vertx, 2, Duration.ofSeconds(30), Duration.ofMillis(20));
    breakers.forDestination("https://idle.example:443");
    breakers.forDestination("https://down.example:443").open();
    long t0 = System.currentTimeMillis();
    Await.until("idle time passes", Duration.ofSeconds(5), () -> System.currentTimeMillis() - t0 > 50);
    assertEquals(1, breakers.evictIdle());
    assertEquals(1, breakers.size());
    assertEquals(CircuitBreakerState.OPEN, breakers.state("https://down.example:443"));
    breakers.closeAll();
  }
}
