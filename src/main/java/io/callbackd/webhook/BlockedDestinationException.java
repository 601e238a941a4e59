package io.callbackd.webhook;

/** The destination resolved to an address callbackd must not reach; such a callback is never retried. */
public final class BlockedDestinationException extends RuntimeException {
  public BlockedDestinationException(String message) {
    super(message, null, false, false);
  }
}
