package io.callbackd.delivery;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;

/**
 * What a dispatcher is configured with, as plain values (the application wires them from its configuration): the
 * retry schedule and its jitter, how many callbacks a process holds and how many may be in flight to one destination
 * across the deployment, the DNS servers that resolve destinations (empty: the system resolver), the request timeout,
 * the breaker's rule, how long outcomes may linger, a claim's largest batch, the lease, the poll interval and the
 * shutdown's grace.
 */
public record DispatchSettings(
  List<Duration> retryDelays,
  double retryJitter,
  int maxInFlight,
  int maxInFlightPerDestination,
  List<InetSocketAddress> dnsServers,
  Duration requestTimeout,
  int breakerFailures,
  Duration breakerReset,
  Duration outcomeLinger,
  int claimBatch,
  Duration lease,
  Duration pollInterval,
  Duration shutdownGrace) {

  public DispatchSettings {
    retryDelays = List.copyOf(retryDelays);
    dnsServers = List.copyOf(dnsServers);
  }
}
