package io.callbackd.delivery;

import io.callbackd.config.CallbackdConfig;
import io.callbackd.metrics.DeliveryMetrics;
import io.vertx.circuitbreaker.CircuitBreaker;
import io.vertx.circuitbreaker.OpenCircuitException;
import io.vertx.core.Future;
import io.vertx.core.MultiMap;
import io.vertx.core.Promise;
import io.vertx.core.VerticleBase;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.eventbus.MessageConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.InetAddress;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * Delivers callbacks: claims due ones from Postgres in batches under a lease, POSTs each to its receiver through the
 * destination's circuit breaker, and writes the outcomes back in batches. Postgres is the source of truth: this
 * verticle holds nothing that a restart would lose, since an unreported claim comes back when its lease expires.
 *
 * <p>Concurrency is bounded twice: by the number of callbacks held at once ({@code max_in_flight}, split between
 * instances) and per destination ({@code max_in_flight_per_destination}). A destination at its limit is left out of
 * the next claims, so a slow receiver holds its own callbacks back and nobody else's.
 */
public class DispatchVerticle extends VerticleBase {

  public static final String WAKE_ADDRESS = "callbackd.dispatch.wake";

  private static final Logger LOG = LoggerFactory.getLogger(DispatchVerticle.class);
  private static final int WRITE_BACK_BATCH = 1000;
  private static final long FOLLOW_UP_MS = 3;
  private static final long EXCLUSION_PAUSE_MS = 100;

  private final CallbackdConfig config;
  private final DeliveryStore store;
  private final RetryPolicy policy;
  private final int maxHeld;
  private final Duration firstDelay;
  private final DeliveryMetrics metrics;
  private final BreakerDirectory directory;

  private String owner;
  private CallbackSender sender;
  private DestinationBreakers breakers;
  private DestinationResolver resolver;
  private MessageConsumer<Object> wakeConsumer;
  private long evictionTimer = -1;

  private int held;
  private boolean claiming;
  private boolean moreMayBeDue;
  private boolean stopping;
  private final Map<String, Integer> sending = new HashMap<>();
  // Destinations that were full at the last claim: room at one of them is a reason to claim again.
  private final java.util.Set<String> claimWhenRoomAt = new java.util.HashSet<>();
  private final Map<String, ArrayDeque<ClaimedDelivery>> waiting = new HashMap<>();
  private final ArrayDeque<WriteBack> outcomes = new ArrayDeque<>();
  private boolean flushing;
  private long flushRetryTimer = -1;
  private long claimRetryTimer = -1;
  private long followUpTimer = -1;
  private long exclusionTimer = -1;
  private long quietExclusionsUntil = System.nanoTime();
  private Promise<Void> drained;

  public DispatchVerticle(CallbackdConfig config, DeliveryStore store, DeliveryMetrics metrics,
                          BreakerDirectory directory, int instances) {
    this.config = config;
    this.store = store;
    this.metrics = metrics;
    this.directory = directory;
    this.policy = new RetryPolicy(config.retryDelays, config.retryJitter);
    this.maxHeld = Math.max(1, (config.maxInFlight + instances - 1) / instances);
    this.firstDelay = config.retryDelays.get(0);
  }

  @Override
  public Future<?> start() {
    owner = ProcessIdentity.name() + "/" + UUID.randomUUID().toString().substring(0, 8);
    sender = new CallbackSender(vertx, config.requestTimeout, config.maxInFlightPerDestination, maxHeld);
    resolver = new DestinationResolver(vertx, config.destinationGuard);
    breakers = new DestinationBreakers(vertx, config.breakerFailures, config.breakerReset, config.breakerIdleEviction);
    directory.register(breakers);
    evictionTimer = vertx.setPeriodic(Math.max(1000, config.breakerIdleEviction.toMillis() / 2), t -> breakers.evictIdle());
    wakeConsumer = vertx.eventBus().localConsumer(WAKE_ADDRESS, msg -> wake());
    return wakeConsumer.completion().onSuccess(v -> {
      LOG.info("Dispatcher {} ready: up to {} callbacks at once, {} per destination", owner, maxHeld,
        config.maxInFlightPerDestination);
      wake();
    });
  }

  /** Something may be due: claim unless a claim is running (then claim again right after it). */
  private void wake() {
    moreMayBeDue = true;
    maybeClaim();
  }

  private void maybeClaim() {
    if (stopping || claiming || !moreMayBeDue) {
      return;
    }
    int room = maxHeld - held;
    if (room <= 0 || outcomes.size() > 10 * WRITE_BACK_BATCH) {
      return;
    }
    int limit = Math.min(config.claimBatch, room);
    List<String> excluded = unavailableDestinations();
    long now = System.nanoTime();
    if (!excluded.isEmpty() && now - quietExclusionsUntil < 0) {
      // The last claim that had to leave destinations out found nothing else: looking again at once would walk past
      // all of their due callbacks for nothing. Other destinations' work is looked for when the pause ends.
      if (exclusionTimer < 0) {
        exclusionTimer = vertx.setTimer(Math.max(1, TimeUnit.NANOSECONDS.toMillis(quietExclusionsUntil - now)), t -> {
          exclusionTimer = -1;
          maybeClaim();
        });
      }
      return;
    }
    claiming = true;
    moreMayBeDue = false;
    claimWhenRoomAt.clear();
    claimWhenRoomAt.addAll(excluded);
    store.claim(owner, limit, config.lease.toMillis(), excluded).onComplete(ar -> {
      claiming = false;
      if (ar.succeeded()) {
        quietExclusionsUntil = !excluded.isEmpty() && ar.result().isEmpty()
          ? System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(EXCLUSION_PAUSE_MS) : System.nanoTime();
      }
      if (stopping) {
        // Claimed while shutting down: every one goes straight back (accept() releases them).
        if (ar.succeeded()) {
          ar.result().forEach(this::accept);
        }
        checkDrained();
        return;
      }
      if (ar.failed()) {
        LOG.warn("Dispatcher {} could not claim callbacks: {}", owner, ar.cause().getMessage());
        // Postgres is away: try again shortly rather than spin.
        if (claimRetryTimer < 0 && !stopping) {
          claimRetryTimer = vertx.setTimer(1000, t -> {
            claimRetryTimer = -1;
            wake();
          });
        }
        return;
      }
      List<ClaimedDelivery> claimed = ar.result();
      for (ClaimedDelivery d : claimed) {
        accept(d);
      }
      // Destinations this claim filled up: claim again as soon as one of them has room (see next()).
      List<String> fullNow = unavailableDestinations();
      claimWhenRoomAt.addAll(fullNow);
      // When every callback claimed went to destinations that are now at their limit, another claim right away would
      // have to walk past all of their due callbacks to find other work: with one busy receiver and a long queue
      // that walk is the whole queue, again and again. Such a claim waits for the next wake-up (new work, the
      // scheduler) or for room at those destinations instead.
      boolean fedOnlyFull = !claimed.isEmpty() && claimed.stream().allMatch(d -> fullNow.contains(d.destination()));
      if (claimed.size() == limit && !fedOnlyFull) {
        moreMayBeDue = true;
      } else if (!claimed.isEmpty() && !fedOnlyFull) {
        lookAgainSoon();
      }
      maybeClaim();
    });
  }

  /*
   * Work just arrived, so more may be about to: at most one transaction at a time sends the wake-up NOTIFY, and one
   * that skipped it can commit right after this claim read the queue. A second look shortly after finds those
   * (it costs one index probe when there are none); it is not repeated once a claim comes back empty.
   */
  private void lookAgainSoon() {
    if (followUpTimer < 0 && !stopping) {
      followUpTimer = vertx.setTimer(FOLLOW_UP_MS, t -> {
        followUpTimer = -1;
        wake();
      });
    }
  }

  private List<String> unavailableDestinations() {
    // Destinations at their limit wait here. Those with an open breaker are still claimed: their callbacks are then
    // postponed to the breaker's reset time, so they do not sit due (and look late) meanwhile.
    List<String> out = new ArrayList<>();
    for (Map.Entry<String, Integer> e : sending.entrySet()) {
      ArrayDeque<ClaimedDelivery> q = waiting.get(e.getKey());
      if (e.getValue() + (q == null ? 0 : q.size()) >= config.maxInFlightPerDestination) {
        out.add(e.getKey());
      }
    }
    return out;
  }

  private void accept(ClaimedDelivery d) {
    held++;
    if (stopping) {
      release(d, Instant.now());
      return;
    }
    if (d.attemptsMade() == 0 && !firstDelay.isZero() && d.scheduledAt() != null) {
      // The schedule's first entry delays the first attempt too (it is usually 0s).
      Instant firstAt = d.scheduledAt().toInstant().plus(firstDelay);
      if (firstAt.isAfter(Instant.now())) {
        release(d, firstAt);
        return;
      }
    }
    if (d.target() == null || "invalid".equals(d.destination())) {
      // Written by a platform straight into the table: no attempt can ever succeed.
      AttemptResult r = AttemptResult.failure(Instant.now(), 0, AttemptResult.Kind.BLOCKED,
        "invalid callback_url (not an absolute http or https URL)");
      finish(d, r);
      return;
    }
    int inFlight = sending.getOrDefault(d.destination(), 0);
    if (inFlight < config.maxInFlightPerDestination) {
      send(d);
      return;
    }
    ArrayDeque<ClaimedDelivery> q = waiting.computeIfAbsent(d.destination(), k -> new ArrayDeque<>());
    if (q.size() >= 2 * config.maxInFlightPerDestination) {
      // Holding more would only let leases run out while they wait; hand it back for later or for another dispatcher.
      release(d, Instant.now());
    } else {
      q.add(d);
    }
  }

  private void send(ClaimedDelivery d) {
    sending.merge(d.destination(), 1, Integer::sum);
    CallbackTarget target = d.target();
    Buffer body = CallbackPayload.body(d.runId(), d.status(), d.completedAt(), d.metadata(), d.agentId(),
      d.stopReason());
    Instant startedAt = Instant.now();
    long t0 = System.nanoTime();
    MultiMap headers = MultiMap.caseInsensitiveMultiMap();
    config.signer.headers(d.webhookId(), startedAt.getEpochSecond(), body.getBytes()).forEach(headers::add);
    // Resolution shares the attempt's deadline; its address is the one connected to, vetted first.
    Future<InetAddress> address = resolver.resolve(target.host())
      .timeout(config.requestTimeout.toMillis(), TimeUnit.MILLISECONDS);
    address.onComplete(resolved -> {
      if (resolved.failed()) {
        Throwable err = resolved.cause();
        AttemptResult r = err instanceof BlockedDestinationException
          ? AttemptResult.failure(startedAt, CallbackSender.elapsedMs(t0), AttemptResult.Kind.BLOCKED, err.getMessage())
          : sender.failedBeforeConnect(err, startedAt, t0);
        done(d, r);
        return;
      }
      CircuitBreaker breaker = breakers.forDestination(d.destination());
      breaker.<AttemptResult>execute(() -> sender.post(target, resolved.result(), headers, body, startedAt, t0)
          .compose(r -> r.succeeded() ? Future.succeededFuture(r) : Future.failedFuture(new FailedAttempt(r))))
        .onComplete(ar -> {
          if (ar.succeeded()) {
            done(d, ar.result());
          } else if (ar.cause() instanceof FailedAttempt) {
            done(d, ((FailedAttempt) ar.cause()).result);
          } else if (ar.cause() instanceof OpenCircuitException) {
            // Not an attempt: the callback waits, its budget untouched, until the breaker lets a trial through.
            metrics.postponedByOpenCircuit();
            sent(d.destination());
            release(d, Instant.ofEpochMilli(breakers.retryAtMillis(d.destination())));
            next(d.destination());
          } else {
            done(d, sender.failedBeforeConnect(ar.cause(), startedAt, t0));
          }
        });
    });
  }

  private void done(ClaimedDelivery d, AttemptResult r) {
    sent(d.destination());
    finish(d, r);
    next(d.destination());
  }

  private void sent(String destination) {
    sending.computeIfPresent(destination, (k, n) -> n <= 1 ? null : n - 1);
  }

  /** A slot of this destination is free: start its next waiting callback, then see whether more can be claimed. */
  private void next(String destination) {
    ArrayDeque<ClaimedDelivery> q = waiting.get(destination);
    if (q != null) {
      ClaimedDelivery d = q.poll();
      if (q.isEmpty()) {
        waiting.remove(destination);
      }
      if (d != null) {
        if (stopping) {
          release(d, Instant.now());
        } else {
          send(d);
        }
      }
    }
    // Claim again only with reason to: work was signalled, the last claim came back full, or this destination was
    // full at the last claim (left out of it, or filled by it) and has room again. Claiming after every attempt would cost a round trip per callback.
    if (claimWhenRoomAt.contains(destination) && sending.getOrDefault(destination, 0)
      + (waiting.containsKey(destination) ? waiting.get(destination).size() : 0) < config.maxInFlightPerDestination) {
      claimWhenRoomAt.remove(destination);
      moreMayBeDue = true;
    }
    if (!claiming && !stopping) {
      maybeClaim();
    }
  }

  private void finish(ClaimedDelivery d, AttemptResult r) {
    DeliveryDecision decision = DeliveryDecision.decide(r, d.attemptNumber(), policy, Instant.now(),
      ThreadLocalRandom.current()::nextDouble);
    Duration sinceTerminal = d.scheduledAt() == null ? Duration.ZERO
      : Duration.between(d.scheduledAt().toInstant(), r.startedAt());
    metrics.attempted(r, d.attemptNumber() == 1, sinceTerminal);
    String outcome = !decision.finished() ? "retry" : decision.state().equals(DeliveryDecision.DELIVERED) ? "delivered"
      : r.statusCode() != null && r.statusCode() == 410 ? "gone" : "failed";
    if (decision.finished()) {
      metrics.finished(outcome, d.scheduledAt() == null ? Duration.ZERO
        : Duration.between(d.scheduledAt().toInstant(), Instant.now()));
    }
    boolean delivered = outcome.equals("delivered");
    // Successes are many and logged at DEBUG: build nothing for them unless DEBUG is on.
    if (!delivered || LOG.isDebugEnabled()) {
      var event = delivered ? LOG.atDebug() : outcome.equals("retry") ? LOG.atInfo() : LOG.atWarn();
      event.addKeyValue("run_id", d.runId())
        .addKeyValue("attempt", d.attemptNumber())
        .addKeyValue("destination", d.destination())
        .addKeyValue("outcome", outcome)
        .addKeyValue("status_code", r.statusCode())
        .addKeyValue("duration_ms", r.durationMs())
        .log("Callback attempt {} for run {} to {}: {}{}", d.attemptNumber(), d.runId(), SafeUrls.forLog(d.url()),
          outcome, r.error() == null ? "" : " (" + (decision.finished() ? decision.runError() : r.error()) + ")");
    }
    report(WriteBack.attempt(d, r, decision));
  }

  private void release(ClaimedDelivery d, Instant nextAttemptAt) {
    report(WriteBack.release(d, nextAttemptAt));
  }

  private void report(WriteBack w) {
    held--;
    outcomes.add(w);
    flush();
  }

  private void flush() {
    if (flushing || outcomes.isEmpty() || flushRetryTimer >= 0) {
      checkDrained();
      return;
    }
    List<WriteBack> batch = new ArrayList<>(Math.min(outcomes.size(), WRITE_BACK_BATCH));
    while (batch.size() < WRITE_BACK_BATCH && !outcomes.isEmpty()) {
      batch.add(outcomes.poll());
    }
    flushing = true;
    store.writeBack(batch, owner).onComplete(ar -> {
      flushing = false;
      if (ar.failed()) {
        // Keep every outcome: an answered POST must not be forgotten because Postgres blinked.
        for (int i = batch.size() - 1; i >= 0; i--) {
          outcomes.addFirst(batch.get(i));
        }
        LOG.warn("Dispatcher {} could not write {} outcomes back, retrying: {}", owner, batch.size(),
          ar.cause().getMessage());
        flushRetryTimer = vertx.setTimer(500, t -> {
          flushRetryTimer = -1;
          flush();
        });
        return;
      }
      if (ar.result() < batch.size()) {
        LOG.info("Dispatcher {}: {} of {} outcomes came after their lease had been taken over and were dropped",
          owner, batch.size() - ar.result(), batch.size());
      }
      flush();
      maybeClaim();
    });
  }

  private void checkDrained() {
    if (drained != null && !claiming && sendingCount() == 0 && outcomes.isEmpty() && !flushing) {
      drained.tryComplete();
    }
  }

  private int sendingCount() {
    int n = 0;
    for (int v : sending.values()) {
      n += v;
    }
    return n;
  }

  /**
   * Shutdown: stop claiming, hand back callbacks not yet started, let attempts in flight finish within the grace
   * period, and write every outcome back.
   */
  @Override
  public Future<?> stop() {
    stopping = true;
    vertx.cancelTimer(evictionTimer);
    vertx.cancelTimer(claimRetryTimer);
    vertx.cancelTimer(followUpTimer);
    vertx.cancelTimer(exclusionTimer);
    drained = Promise.promise();
    for (ArrayDeque<ClaimedDelivery> q : waiting.values()) {
      for (ClaimedDelivery d : q) {
        release(d, Instant.now());
      }
    }
    waiting.clear();
    checkDrained();
    long grace = Math.max(1, config.shutdownGrace.toMillis());
    return wakeConsumer.unregister()
      .compose(v -> drained.future().timeout(grace, TimeUnit.MILLISECONDS))
      .recover(err -> {
        LOG.warn("Dispatcher {} stopped with {} attempts still in flight and {} outcomes unwritten; their leases "
          + "will expire and they will be attempted again", owner, sendingCount(), outcomes.size());
        return Future.succeededFuture();
      })
      .eventually(() -> {
        directory.unregister(breakers);
        breakers.closeAll();
        return sender.close();
      });
  }

  /** Carries a non-2xx attempt through the breaker as a failure, keeping its details. */
  private static final class FailedAttempt extends RuntimeException {
    final AttemptResult result;

    FailedAttempt(AttemptResult result) {
      super(result.error(), null, false, false);
      this.result = result;
    }
  }
}
