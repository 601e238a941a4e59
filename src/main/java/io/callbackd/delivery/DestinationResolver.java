package io.callbackd.delivery;

import io.callbackd.webhook.BlockedDestinationException;
import io.callbackd.webhook.DestinationGuard;
import io.netty.util.NetUtil;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.dns.DnsClient;
import io.vertx.core.dns.DnsClientOptions;
import io.vertx.core.dns.DnsException;
import io.vertx.core.dns.DnsResponseCode;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Resolves a callback's host and vets the result with the {@link DestinationGuard}. The address returned is the one
 * the sender connects to (by IP, with the name only in Host and SNI), so a name cannot resolve to an allowed address
 * here and to a blocked one at connect time (DNS rebinding): there is no second lookup.
 *
 * <p>Names are resolved by the DNS servers of {@code dns_servers} when it is set (A and AAAA queries, asynchronous,
 * each server in turn when one does not answer), else by the system resolver (hosts file included) on a worker
 * thread, since it blocks.
 */
public final class DestinationResolver {

  // A short cache of answers (per dispatcher, on its event loop): lookups are skipped for busy receivers. Every use
  // is vetted again, and the connection goes to the cached, vetted address, never to a new lookup.
  private static final long CACHE_TTL_MS = 10_000;
  private static final int CACHE_SIZE = 10_000;

  /** {@code expiresAt}: in {@link System#nanoTime()}'s terms. */
  private record Cached(InetAddress[] addresses, long expiresAt) {
  }

  private final Vertx vertx;
  private final DestinationGuard guard;
  // Kept in a field for the dispatcher's lifetime, one per configured server, in order.
  private final List<DnsClient> dnsClients = new ArrayList<>();
  private final Map<String, Cached> cache = new HashMap<>();

  public DestinationResolver(Vertx vertx, DestinationGuard guard, List<InetSocketAddress> dnsServers,
                             Duration queryTimeout) {
    this.vertx = vertx;
    this.guard = guard;
    for (InetSocketAddress server : dnsServers) {
      dnsClients.add(vertx.createDnsClient(new DnsClientOptions()
        .setHost(server.getAddress().getHostAddress())
        .setPort(server.getPort())
        // Each server gets its share of the attempt's deadline, so that the next one is asked in time.
        .setQueryTimeout(Math.max(1, queryTimeout.toMillis() / dnsServers.size()))
        .setRecursionDesired(true)));
    }
  }

  /**
   * The first allowed address of the host; fails with {@link BlockedDestinationException} when every address is
   * blocked, or with {@link UnknownHostException} when the name has none.
   */
  public Future<InetAddress> resolve(String host) {
    // An IP literal needs no lookup (and no worker thread): it is vetted as it is.
    InetAddress literal = NetUtil.createInetAddressFromIpAddressString(host);
    if (literal != null) {
      return vet(new InetAddress[] {literal});
    }
    // The monotonic clock: a step of the wall clock neither keeps an answer for hours nor drops it early.
    long now = System.nanoTime();
    Cached cached = cache.get(host);
    if (cached != null && cached.expiresAt - now > 0) {
      return vet(cached.addresses);
    }
    Future<InetAddress[]> lookup = dnsClients.isEmpty()
      ? vertx.executeBlocking(() -> InetAddress.getAllByName(host), false)
      : lookupWithServers(host, 0, null);
    return lookup.compose(addresses -> {
      if (cache.size() >= CACHE_SIZE) {
        cache.clear();
      }
      cache.put(host, new Cached(addresses, System.nanoTime() + CACHE_TTL_MS * 1_000_000));
      return vet(addresses);
    });
  }

  /** A and AAAA records from server {@code index}, or the next server's when it fails to answer. */
  private Future<InetAddress[]> lookupWithServers(String host, int index, Throwable previous) {
    if (index >= dnsClients.size()) {
      return Future.failedFuture(previous);
    }
    DnsClient dns = dnsClients.get(index);
    Future<List<String>> a = dns.resolveA(host);
    Future<List<String>> aaaa = dns.resolveAAAA(host);
    return Future.join(a, aaaa).transform(done -> {
      if (isNoSuchName(a.cause())) {
        return Future.failedFuture(unknownHost(host));
      }
      if (a.failed()) {
        return lookupWithServers(host, index + 1, a.cause());
      }
      List<InetAddress> addresses = new ArrayList<>();
      List<String> texts = new ArrayList<>(a.result());
      if (aaaa.succeeded()) {
        texts.addAll(aaaa.result());
      }
      for (String text : texts) {
        InetAddress address = NetUtil.createInetAddressFromIpAddressString(text);
        if (address != null) {
          addresses.add(address);
        }
      }
      return addresses.isEmpty() ? Future.failedFuture(unknownHost(host))
        : Future.succeededFuture(addresses.toArray(new InetAddress[0]));
    });
  }

  private static boolean isNoSuchName(Throwable err) {
    return err instanceof DnsException && ((DnsException) err).code() == DnsResponseCode.NXDOMAIN;
  }

  private static UnknownHostException unknownHost(String host) {
    return new UnknownHostException(host);
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

  public Future<Void> close() {
    List<Future<Void>> closing = new ArrayList<>();
    for (DnsClient dns : dnsClients) {
      closing.add(dns.close());
    }
    return Future.join(closing).mapEmpty();
  }
}
