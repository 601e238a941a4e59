package io.callbackd.delivery;

import io.vertx.circuitbreaker.CircuitBreakerState;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The breakers of every dispatcher in this process, for the metrics and the destinations view. Each dispatcher keeps
 * its own breakers on its own event loop; this only reads them (safely, from any thread).
 */
public final class BreakerDirectory {

  private final List<DestinationBreakers> all = new CopyOnWriteArrayList<>();

  public void register(DestinationBreakers breakers) {
    all.add(breakers);
  }

  public void unregister(DestinationBreakers breakers) {
    all.remove(breakers);
  }

  /** {@code open} if any dispatcher's breaker for it is open, else {@code half_open} if any is, else {@code closed}. */
  public String stateOf(String destination) {
    boolean halfOpen = false;
    for (DestinationBreakers b : all) {
      CircuitBreakerState s = b.state(destination);
      if (s == CircuitBreakerState.OPEN) {
        return "open";
      }
      halfOpen |= s == CircuitBreakerState.HALF_OPEN;
    }
    return halfOpen ? "half_open" : "closed";
  }

  /** Breakers by state across dispatchers: {@code closed}, {@code open}, {@code half_open}. */
  public Map<String, Integer> countByState() {
    Map<String, Integer> counts = new HashMap<>();
    for (DestinationBreakers b : all) {
      b.countByState().forEach((k, v) -> counts.merge(k, v, Integer::sum));
    }
    return counts;
  }
}
