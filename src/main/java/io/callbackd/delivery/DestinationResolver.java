package io.callbackd.delivery;

import io.callbackd.webhook.BlockedDestinationException;
import io.callbackd.webhook.DestinationGuard;
import io.vertx.core.Future;
import io.netty.util.NetUtil;
import io.vertx.core.Vertx;

import java.net.InetAddress;
import java.util.Optional;

/**
 * Resolves a callback's host and vets the result with the {@link DestinationGuard}. The address returned is the one
 * the sender connects to, so a name cannot resolve to a public address here and to a private one at connect time
 * (DNS rebinding). Resolution uses the system resolver (hosts file included) on a worker thread, since it blocks.
 */
public final class DestinationResolver {

  // A short cache of answers (per dispatcher, on its event loop): the worker hop is skipped for busy receivers.
  // Every use is vetted again, and the connection goes to the cached, vetted address, never to a new lookup.
  private static final long CACHE_TTL_MS = 10_000;
  private static final int CACHE_SIZE = 10_000;

  private record Cached(InetAddress[] addresses, long expiresAt) {
  }

  private final Vertx vertx;
  private final DestinationGuard guard;
  private final java.util.Map<String, Cached> cache = new java.util.HashMap<>();

  public DestinationResolver(Vertx vertx, DestinationGuard guard) {
    this.vertx = vertx;
    this.guard = guard;
  }

  /**
   * The first allowed address of the host; fails with {@link BlockedDestinationException} when every address is
   * blocked, or with the resolver's {@link java.net.UnknownHostException}.
   */
  public Future<InetAddress> resolve(String host) {
    // An IP literal needs no lookup (and no worker thread): it is vetted as it is.
    InetAddress literal = NetUtil.createInetAddressFromIpAddressString(host);
    if (literal != null) {
      return vet(new InetAddress[] {literal});
    }
    long now = System.currentTimeMillis();
    Cached cached = cache.get(host);
    if (cached != null && cached.expiresAt > now) {
      return vet(cached.addresses);
    }
    return vertx.executeBlocking(() -> InetAddress.getAllByName(host), false).compose(addresses -> {
      if (cache.size() >= CACHE_SIZE) {
        cache.clear();
      }
      cache.put(host, new Cached(addresses, System.currentTimeMillis() + CACHE_TTL_MS));
      return vet(addresses);
    });
  }

  private Future<InetAddress> vet(InetAddress[] addresses) {
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
  }
}
