package io.callbackd.delivery;

import io.vertx.core.Future;
import io.vertx.core.Vertx;

import java.net.InetAddress;
import java.util.Optional;

/**
 * Resolves a callback's host and vets the result with the {@link DestinationGuard}. The address returned is the one
 * the sender connects to, so a name cannot resolve to a public address here and to a private one at connect time
 * (DNS rebinding). Resolution uses the system resolver (hosts file included) on a worker thread, since it blocks.
 */
public final class DestinationResolver {

  private final Vertx vertx;
  private final DestinationGuard guard;

  public DestinationResolver(Vertx vertx, DestinationGuard guard) {
    this.vertx = vertx;
    this.guard = guard;
  }

  /**
   * The first allowed address of the host; fails with {@link BlockedDestinationException} when every address is
   * blocked, or with the resolver's {@link java.net.UnknownHostException}.
   */
  public Future<InetAddress> resolve(String host) {
    return vertx.executeBlocking(() -> InetAddress.getAllByName(host), false).compose(addresses -> {
      String firstBlock = null;
      for (InetAddress a : addresses) {
        Optional<String> reason = guard.blockReason(a);
        if (reason.isEmpty()) {
          return Future.succeededFuture(a);
        }
        if (firstBlock == null) {
          firstBlock = "blocked destination " + a.getHostAddress() + " (" + reason.get() + ")";
        }
      }
      return Future.failedFuture(new BlockedDestinationException(firstBlock));
    });
  }
}
