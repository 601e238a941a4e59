package io.callbackd.metrics;

import io.callbackd.delivery.AttemptResult;
import io.callbackd.delivery.DeliveryEvents;
import io.callbackd.history.RetentionEvents;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;

import java.time.Duration;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * callbackd's own metrics. Labels take a handful of fixed values only: never a run id, URL or host, which would
 * make the number of series grow without limit.
 */
public final class DeliveryMetrics implements DeliveryEvents, RetentionEvents {

  public static final String DELIVERIES = "callbackd_deliveries";
  public static final String ATTEMPTS = "callbackd_attempts";
  public static final String ATTEMPT_DURATION = "callbackd_attempt_duration";
  public static final String DELIVERY_LAG = "callbackd_delivery_lag";
  public static final String END_TO_END = "callbackd_end_to_end";
  public static final String QUEUE_PENDING = "callbackd_queue_pending";
  public static final String QUEUE_IN_FLIGHT = "callbackd_queue_in_flight";
  public static final String QUEUE_OLDEST_PENDING = "callbackd_queue_oldest_pending_seconds";
  public static final String CLAIMS = "callbackd_claims";
  public static final String CIRCUIT_BREAKERS = "callbackd_circuit_breakers";
  public static final String HISTORY_PURGED = "callbackd_history_purged_rows";
  public static final String HISTORY_PARTITIONS_DROPPED = "callbackd_history_partitions_dropped";

  /** The {@code result} label of attempts: one value per class of outcome. */
  public static final List<String> RESULTS = List.of("2xx", "3xx", "4xx", "5xx", "timeout", "connect_error",
    "blocked", "local_error");

  private final MeterRegistry registry;
  private final Counter delivered;
  private final Counter failed;
  private final Counter gone;
  private final Counter claimsFound;
  private final Counter claimsEmpty;
  private final Map<String, Counter> purged;
  private final Map<String, Counter> partitionsDropped;
  private final Map<AttemptResult.Kind, Counter> attemptsByKind = new EnumMap<>(AttemptResult.Kind.class);
  private final Timer attemptDuration;
  private final Timer deliveryLag;
  private final Timer endToEnd;
  private final AtomicLong pending = new AtomicLong();
  private final AtomicLong inFlight = new AtomicLong();
  private final AtomicLong oldestPendingSeconds = new AtomicLong();
  private final Map<String, AtomicLong> breakers = Map.of("closed", new AtomicLong(), "open", new AtomicLong(),
    "half_open", new AtomicLong());

  public DeliveryMetrics(MeterRegistry registry) {
    this.registry = registry;
    delivered = deliveries("delivered");
    failed = deliveries("failed");
    gone = deliveries("gone");
    claimsFound = claims("found");
    claimsEmpty = claims("empty");
    purged = Map.of("history", purgedCounter("history"), "attempts", purgedCounter("attempts"));
    partitionsDropped = Map.of("history", droppedCounter("history"), "attempts", droppedCounter("attempts"));
    attemptsByKind.put(AttemptResult.Kind.SUCCESS, attempts("2xx"));
    attemptsByKind.put(AttemptResult.Kind.REDIRECT, attempts("3xx"));
    attemptsByKind.put(AttemptResult.Kind.CLIENT_ERROR, attempts("4xx"));
    attemptsByKind.put(AttemptResult.Kind.SERVER_ERROR, attempts("5xx"));
    attemptsByKind.put(AttemptResult.Kind.TIMEOUT, attempts("timeout"));
    attemptsByKind.put(AttemptResult.Kind.CONNECT_ERROR, attempts("connect_error"));
    attemptsByKind.put(AttemptResult.Kind.BLOCKED, attempts("blocked"));
    attemptsByKind.put(AttemptResult.Kind.LOCAL_ERROR, attempts("local_error"));
    attemptDuration = Timer.builder(ATTEMPT_DURATION)
      .description("Duration of callback attempts, from the start (DNS included) to the response or the error")
      .serviceLevelObjectives(ms(5), ms(10), ms(25), ms(50), ms(100), ms(250), ms(500), ms(1000), ms(2500), ms(5000),
        ms(10_000), ms(30_000))
      .register(registry);
    deliveryLag = Timer.builder(DELIVERY_LAG)
      .description("From a run's terminal update to the start of its callback's first attempt")
      .serviceLevelObjectives(ms(5), ms(10), ms(25), ms(50), ms(100), ms(250), ms(500), ms(1000), ms(5000),
        ms(30_000), ms(60_000), ms(300_000), ms(1_800_000))
      .register(registry);
    endToEnd = Timer.builder(END_TO_END)
      .description("From a run's terminal update to its callback's final outcome (delivered, failed or gone)")
      .serviceLevelObjectives(ms(10), ms(50), ms(100), ms(500), ms(1000), ms(5000), ms(30_000), ms(300_000),
        ms(1_800_000), ms(7_200_000), ms(36_000_000), ms(108_000_000))
      .register(registry);
    Gauge.builder(QUEUE_PENDING, pending, AtomicLong::get)
      .description("Callbacks waiting for an attempt (due now or later), read from PostgreSQL every few seconds")
      .register(registry);
    Gauge.builder(QUEUE_IN_FLIGHT, inFlight, AtomicLong::get)
      .description("Callbacks claimed by a dispatcher, read from PostgreSQL every few seconds")
      .register(registry);
    Gauge.builder(QUEUE_OLDEST_PENDING, oldestPendingSeconds, AtomicLong::get)
      .description("How long the longest-waiting due callback has been due (0 when none is), in seconds")
      .register(registry);
    for (String state : List.of("closed", "open", "half_open")) {
      Gauge.builder(CIRCUIT_BREAKERS, breakers.get(state), AtomicLong::get)
        .description("Destinations whose circuit breaker is in this state, across the deployment (read from "
          + "PostgreSQL every few seconds)")
        .tag("state", state)
        .register(registry);
    }
  }

  private static Duration ms(long n) {
    return Duration.ofMillis(n);
  }

  private Counter deliveries(String outcome) {
    return Counter.builder(DELIVERIES).description("Callbacks finished, by outcome").tag("outcome", outcome)
      .register(registry);
  }

  private Counter attempts(String result) {
    return Counter.builder(ATTEMPTS).description("Callback attempts, by result").tag("result", result)
      .register(registry);
  }

  private Counter claims(String result) {
    return Counter.builder(CLAIMS)
      .description("Dispatchers' claims on the queue, by whether they found callbacks to take (each is a statement "
        + "on PostgreSQL)")
      .tag("result", result).register(registry);
  }

  public MeterRegistry registry() {
    return registry;
  }

  @Override
  public void attempted(AttemptResult r, boolean first, Duration sinceTerminalUpdate) {
    attemptsByKind.get(r.kind()).increment();
    attemptDuration.record(Duration.ofMillis(r.durationMs()));
    if (first && !sinceTerminalUpdate.isNegative()) {
      deliveryLag.record(sinceTerminalUpdate);
    }
  }

  @Override
  public void claimed(int callbacks) {
    (callbacks > 0 ? claimsFound : claimsEmpty).increment();
  }

  /** A callback reached its final outcome: {@code delivered}, {@code gone} (410) or {@code failed}. */
  @Override
  public void finished(String outcome, Duration sinceTerminalUpdate) {
    switch (outcome) {
      case "delivered" -> delivered.increment();
      case "gone" -> gone.increment();
      default -> failed.increment();
    }
    if (!sinceTerminalUpdate.isNegative()) {
      endToEnd.record(sinceTerminalUpdate);
    }
  }

  public void queue(long pendingNow, long inFlightNow, long oldestPendingSecondsNow) {
    pending.set(pendingNow);
    inFlight.set(inFlightNow);
    oldestPendingSeconds.set(oldestPendingSecondsNow);
  }

  /** The deployment's breakers by state, as read from the destination rows. */
  public void breakers(long closed, long open, long halfOpen) {
    breakers.get("closed").set(closed);
    breakers.get("open").set(open);
    breakers.get("half_open").set(halfOpen);
  }

  private Counter purgedCounter(String table) {
    return Counter.builder(HISTORY_PURGED).tag("table", table)
      .description("Rows of callback history (table: history, attempts) deleted in batches once older than the retention")
      .register(registry);
  }

  private Counter droppedCounter(String table) {
    return Counter.builder(HISTORY_PARTITIONS_DROPPED).tag("table", table)
      .description("Whole partitions of callback history (table: history, attempts) dropped once older than the retention")
      .register(registry);
  }

  @Override
  public void purged(String table, long rows) {
    Counter c = purged.get(table);
    if (c != null) {
      c.increment(rows);
    }
  }

  @Override
  public void partitionsDropped(String table, long partitions) {
    Counter c = partitionsDropped.get(table);
    if (c != null) {
      c.increment(partitions);
    }
  }
}
