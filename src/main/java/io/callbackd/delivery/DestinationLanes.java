package io.callbackd.delivery;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The callbacks one dispatcher holds, by destination: claimed, then started, then reported. A claim only ever gives
 * a destination the room it has across the deployment, so a lane never needs to hold callbacks back; what it tracks
 * is which ones have not started yet, so that a cancel or a shutdown can drop or hand back exactly those.
 */
final class DestinationLanes {

  private static final class Held {
    final ClaimedDelivery delivery;
    boolean started;

    Held(ClaimedDelivery delivery) {
      this.delivery = delivery;
    }
  }

  private final Map<Long, Held> held = new HashMap<>();
  private final Map<String, Integer> perDestination = new HashMap<>();

  void add(ClaimedDelivery d) {
    held.put(d.id(), new Held(d));
    perDestination.merge(d.destination(), 1, Integer::sum);
  }

  /** Marks the callback as sending; false when it was dropped meanwhile (cancelled), so it must not go out. */
  boolean start(long id) {
    Held h = held.get(id);
    if (h == null) {
      return false;
    }
    h.started = true;
    return true;
  }

  /**
   * The callback is reported (its outcome or its release is on the way to the database). False when the lanes no
   * longer held it: it was handed back or dropped already (a cancel, a shutdown) and reported then, so nothing more
   * may be reported under its claim.
   */
  boolean done(ClaimedDelivery d) {
    if (held.remove(d.id()) == null) {
      return false;
    }
    perDestination.computeIfPresent(d.destination(), (k, n) -> n <= 1 ? null : n - 1);
    return true;
  }

  /**
   * A cancel arrived: a callback not yet started is dropped here and returned (its claim is void: only a release is
   * reported for it); null when this dispatcher holds no such callback unstarted.
   */
  ClaimedDelivery cancel(long id) {
    Held h = held.get(id);
    if (h == null || h.started) {
      return null;
    }
    done(h.delivery);
    return h.delivery;
  }

  /** Callbacks claimed but not started, removed from the lanes (shutdown hands them back). */
  List<ClaimedDelivery> takeUnstarted() {
    List<ClaimedDelivery> out = new ArrayList<>();
    for (Held h : new ArrayList<>(held.values())) {
      if (!h.started) {
        out.add(h.delivery);
        done(h.delivery);
      }
    }
    return out;
  }

  int size() {
    return held.size();
  }

  int heldFor(String destination) {
    return perDestination.getOrDefault(destination, 0);
  }
}
