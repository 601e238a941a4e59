package io.callbackd.delivery;

/**
 * What one attempt says about its destination, for the destination's circuit breaker. Only failures that say the
 * destination itself is unwell count toward opening it: no connection, TLS failures, timeouts, DNS failures, 5xx,
 * 408 and 429. Any other answer, a 404 or 422 included, shows a receiver that is up: it fails that callback on its
 * schedule and closes the breaker's count. A destination refused by the guard says nothing either way, nor does an
 * attempt callbackd could not send (its own failure: another organization's callbacks to the same receiver go on).
 */
public enum DestinationHealth {
  HEALTHY("healthy"), UNWELL("unwell"), UNKNOWN(null);

  private final String label;

  DestinationHealth(String label) {
    this.label = label;
  }

  /** As stored with the outcome: {@code healthy}, {@code unwell}, or null. */
  public String label() {
    return label;
  }

  public static DestinationHealth of(AttemptResult r) {
    switch (r.kind()) {
      case BLOCKED:
      case LOCAL_ERROR:
        return UNKNOWN;
      case TIMEOUT:
      case CONNECT_ERROR:
      case SERVER_ERROR:
        return UNWELL;
      case CLIENT_ERROR:
        return r.statusCode() != null && (r.statusCode() == 408 || r.statusCode() == 429) ? UNWELL : HEALTHY;
      default:
        return HEALTHY;
    }
  }
}
