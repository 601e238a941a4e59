package io.callbackd.delivery;

import io.vertx.circuitbreaker.CircuitBreaker;
import io.vertx.circuitbreaker.CircuitBreakerOptions;
import io.vertx.circuitbreaker.CircuitBreakerState;
import io.vertx.core.Vertx;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.Iterator;
import java.util.Map;

/**
 * One circuit breaker per destination (scheme, host, port), so a dead receiver is left alone for a while without
 * slowing callbacks to anyone else. Breakers of destinations unused for a while are dropped, so the map does not grow
 * with every receiver ever seen. Used from its verticle's event loop only.
 */
public final class DestinationBreakers {

  private final Vertx vertx;
  private final CircuitBreakerOptions options;
  private final Duration reset;
  private final Duration idleEviction;
  // Concurrent only so that the metrics gauge can count states from another thread.
  private final Map<String, Entry> breakers = new ConcurrentHashMap<>();

  private static final class Entry {
    final CircuitBreaker breaker;
    long lastUsedMillis;
    long openedAtMillis;

    Entry(CircuitBreaker breaker) {
      this.breaker = breaker;
    }
  }

  public DestinationBreakers(Vertx vertx, int failures, Duration reset, Duration idleEviction) {
    this.vertx = vertx;
    this.reset = reset;
    this.idleEviction = idleEviction;
    this.options = new CircuitBreakerOptions()
      .setMaxFailures(failures)
      .setResetTimeout(reset.toMillis())
      // Attempts carry their own deadline; the breaker only counts outcomes.
      .setTimeout(-1)
      .setFallbackOnFailure(false)
      // Any success resets the count, so this window only forgets failures that are far apart.
      .setFailuresRollingWindow(Math.max(60_000, reset.toMillis() * 10))
      // No periodic event-bus notifications: with thousands of destinations they would be pure noise.
      .setNotificationAddress(null);
  }

  public CircuitBreaker forDestination(String destination) {
    Entry e = breakers.get(destination);
    if (e == null) {
      CircuitBreaker breaker = CircuitBreaker.create("callbackd:" + destination, vertx, options);
      Entry entry = new Entry(breaker);
      breaker.openHandler(v -> entry.openedAtMillis = System.currentTimeMillis());
      breakers.put(destination, entry);
      e = entry;
    }
    e.lastUsedMillis = System.currentTimeMillis();
    return e.breaker;
  }

  /** When callbacks postponed by an open breaker should come back: when it turns half-open. */
  public long retryAtMillis(String destination) {
    Entry e = breakers.get(destination);
    long now = System.currentTimeMillis();
    if (e == null) {
      return now;
    }
    long halfOpenAt = e.openedAtMillis + reset.toMillis();
    // Half-open already and its trial call in flight: look again shortly.
    return halfOpenAt > now ? halfOpenAt : now + Math.min(1000, Math.max(50, reset.toMillis() / 10));
  }

  public CircuitBreakerState state(String destination) {
    Entry e = breakers.get(destination);
    return e == null ? CircuitBreakerState.CLOSED : e.breaker.state();
  }

  /** Counts breakers by state ({@code closed}, {@code open}, {@code half_open}); safe from any thread. */
  public Map<String, Integer> countByState() {
    Map<String, Integer> counts = new HashMap<>();
    for (Entry e : breakers.values()) {
      counts.merge(e.breaker.state().name().toLowerCase(java.util.Locale.ROOT), 1, Integer::sum);
    }
    return counts;
  }

  /** Destinations whose breaker is open now: their callbacks are left out of claims until it half-opens. */
  public List<String> openDestinations() {
    List<String> out = new ArrayList<>();
    breakers.forEach((dest, e) -> {
      if (e.breaker.state() == CircuitBreakerState.OPEN) {
        out.add(dest);
      }
    });
    return out;
  }

  /**
   * Drops breakers of destinations not used within the idle time: closed ones, and half-open ones nobody tried (their
   * next callback starts afresh); open ones stay until they half-open.
   */
  public int evictIdle() {
    long cutoff = System.currentTimeMillis() - idleEviction.toMillis();
    int evicted = 0;
    for (Iterator<Entry> it = breakers.values().iterator(); it.hasNext(); ) {
      Entry e = it.next();
      if (e.lastUsedMillis < cutoff && e.breaker.state() != CircuitBreakerState.OPEN) {
        e.breaker.close();
        it.remove();
        evicted++;
      }
    }
    return evicted;
  }

  public int size() {
    return breakers.size();
  }

  public void closeAll() {
    breakers.values().forEach(e -> e.breaker.close());
    breakers.clear();
  }
}
