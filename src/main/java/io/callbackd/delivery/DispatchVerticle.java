package io.callbackd.delivery;

import io.callbackd.secrets.OrganizationSigners;
import io.callbackd.secrets.SigningSecretStore;
import io.callbackd.webhook.DestinationGuard;
import io.callbackd.webhook.CallbackSigner;
import io.callbackd.webhook.SecretsCipher;
import io.callbackd.tracing.Tracing;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.VerticleBase;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.MessageConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/**
 * Delivers callbacks. Its parts: the {@link ClaimLoop} claims what destinations can take, the
 * {@link DestinationLanes} track what this dispatcher holds, an {@link AttemptCycle} runs each attempt (a
 * {@link CallbackAttempt} with its span, decision, metrics and write-back), and the {@link OutcomeWriter} writes the
 * outcomes back. PostgreSQL is the source of truth, breakers and per-destination
 * limits included: this verticle holds nothing that a restart would lose, since an unreported claim comes back when
 * its lease expires.
 */
public class DispatchVerticle extends VerticleBase {

  /** Wakes every dispatcher of this process (published). */
  public static final String WAKE_ADDRESS = "callbackd.dispatch.wake";
  /**
   * Wakes one dispatcher of this process (sent: the event bus takes them in turn). One claim takes every callback
   * that the destinations can take, so a commit's NOTIFY needs one claim, not one per dispatcher; a dispatcher that
   * has no room passes it on to all, and one whose claim comes back full wakes the others too.
   */
  public static final String WAKE_ONE_ADDRESS = "callbackd.dispatch.wake-one";
  /** Carries the id of a cancelled callback: a dispatcher holding it unstarted drops it. */
  public static final String CANCEL_ADDRESS = "callbackd.dispatch.cancel";

  private static final Logger LOG = LoggerFactory.getLogger(DispatchVerticle.class);
  /** Wake-ups concern this process only: in cluster mode they never ask the cluster where the address lives. */
  private static final DeliveryOptions LOCAL = new DeliveryOptions().setLocalOnly(true);

  /** Wakes every dispatcher of this process. */
  public static void wakeAll(Vertx vertx) {
    vertx.eventBus().publish(WAKE_ADDRESS, null, LOCAL);
  }

  /** Wakes one dispatcher of this process: enough for callbacks that one claim takes. */
  public static void wakeOne(Vertx vertx) {
    vertx.eventBus().send(WAKE_ONE_ADDRESS, null, LOCAL);
  }

  /** Tells this process's dispatchers that a callback was cancelled. */
  public static void cancelled(Vertx vertx, long callbackId) {
    vertx.eventBus().publish(CANCEL_ADDRESS, callbackId, LOCAL);
  }

  private final DispatchSettings settings;
  private final CallbackSigner signer;
  private final SecretsCipher cipher;
  private final SigningSecretStore secrets;
  private final DestinationGuard guard;
  private final DeliveryStore store;
  private final RetryPolicy policy;
  private final int maxHeld;
  private final DeliveryEvents events;
  private final Tracing tracing;

  private String owner;
  private CallbackAttempt attempts;
  private AttemptCycle cycle;
  private ClaimLoop claims;
  private OutcomeWriter outcomes;
  private final DestinationLanes lanes = new DestinationLanes();
  private MessageConsumer<Object> wakeConsumer;
  private MessageConsumer<Object> wakeOneConsumer;
  private MessageConsumer<Object> cancelConsumer;
  private MessageConsumer<Object> secretsConsumer;
  private boolean stopping;
  private int sending;
  private Promise<Void> attemptsDone;

  /**
   * @param signer  the deployment's signer, for callbacks whose organization has no secrets of its own
   * @param secrets organizations' own signing secrets, opened with {@code cipher}
   */
  public DispatchVerticle(DispatchSettings settings, CallbackSigner signer, SecretsCipher cipher,
                          SigningSecretStore secrets, DestinationGuard guard, DeliveryStore store,
                          DeliveryEvents events, Tracing tracing, int instances) {
    this.settings = settings;
    this.signer = signer;
    this.cipher = cipher;
    this.secrets = secrets;
    this.guard = guard;
    this.store = store;
    this.events = events;
    this.tracing = tracing;
    this.policy = new RetryPolicy(settings.retryDelays(), settings.retryJitter());
    this.maxHeld = Math.max(1, (settings.maxInFlight() + instances - 1) / instances);
  }

  @Override
  public Future<?> start() {
    owner = ProcessIdentity.name() + "/" + UUID.randomUUID().toString().substring(0, 8);
    OrganizationSigners signers = new OrganizationSigners(secrets, cipher, signer);
    attempts = new CallbackAttempt(vertx, guard, settings.dnsServers(), signers, settings.requestTimeout(),
      settings.maxInFlightPerDestination(), maxHeld);
    cycle = new AttemptCycle(attempts, policy, events, tracing);
    secretsConsumer = vertx.eventBus().localConsumer(OrganizationSigners.CHANGED_ADDRESS,
      msg -> signers.forget(msg.body() instanceof String ? (String) msg.body() : null));
    outcomes = new OutcomeWriter(vertx, store, owner,
      new DeliveryStore.BreakerRule(settings.breakerFailures(), settings.breakerReset()),
      settings.maxInFlightPerDestination(), settings.outcomeLinger(), this::roomGiven, events);
    claims = new ClaimLoop(vertx, store, owner, settings.claimBatch(), settings.lease().toMillis(),
      settings.maxInFlightPerDestination(), settings.requestTimeout(), settings.pollInterval(), this::room,
      this::claimed, () -> wakeAll(vertx), this::checkAttemptsDone);
    wakeConsumer = vertx.eventBus().localConsumer(WAKE_ADDRESS, msg -> claims.wake());
    wakeOneConsumer = vertx.eventBus().localConsumer(WAKE_ONE_ADDRESS, msg -> {
      if (room() > 0) {
        claims.wake();
      } else {
        // No room here: another dispatcher may have some.
        wakeAll(vertx);
      }
    });
    cancelConsumer = vertx.eventBus().localConsumer(CANCEL_ADDRESS, msg -> {
      ClaimedDelivery dropped = msg.body() instanceof Long ? lanes.cancel((Long) msg.body()) : null;
      if (dropped != null) {
        LOG.info("Dispatcher {}: callback {} was cancelled before it was sent", owner, msg.body());
        // Its claim is void; reporting it gives its destination the room back.
        outcomes.add(WriteBack.release(dropped));
      }
    });
    return Future.all(List.of(wakeConsumer.completion(), wakeOneConsumer.completion(), cancelConsumer.completion(),
        secretsConsumer.completion()))
      .onSuccess(v -> {
        LOG.info("Dispatcher {} ready: up to {} callbacks at once, {} per destination across the deployment", owner,
          maxHeld, settings.maxInFlightPerDestination());
        claims.wake();
      });
  }

  private int room() {
    if (stopping || outcomes.backlog() > 10 * OutcomeWriter.BATCH) {
      return 0;
    }
    return maxHeld - lanes.size();
  }

  /*
   * Outcomes written: the dispatcher has room again. A claim is worth making when the outcomes may have made
   * callbacks claimable, or when the last claim stopped at this dispatcher's room; otherwise it would find only what
   * a wake-up already announced (or nothing), and at a steady rate it would double the claims.
   */
  private void roomGiven(boolean claimable) {
    if (stopping) {
      return;
    }
    if (claimable) {
      claims.wake();
    } else {
      claims.roomBack();
    }
  }

  private void claimed(List<ClaimedDelivery> claimed) {
    events.claimed(claimed.size());
    for (ClaimedDelivery d : claimed) {
      lanes.add(d);
      if (stopping) {
        // Claimed while shutting down: straight back, unattempted.
        release(d);
      } else {
        send(d);
      }
    }
    checkAttemptsDone();
  }

  private void send(ClaimedDelivery d) {
    sending++;
    Future<WriteBack> attempt;
    try {
      attempt = cycle.run(d, () -> lanes.start(d.id()));
    } catch (RuntimeException e) {
      attempt = Future.failedFuture(e);
    }
    attempt.onComplete(ar -> {
      sending--;
      // Never left without a report: its room and lane would be held until the lease ended.
      WriteBack w = ar.succeeded() ? ar.result() : cycle.failedInside(d, ar.cause());
      if (w != null) {
        report(d, w);
      }
      checkAttemptsDone();
    });
  }

  private void release(ClaimedDelivery d) {
    report(d, WriteBack.release(d));
  }

  /**
   * One report per claim: a callback handed back or dropped while its attempt was still resolving its host (a
   * shutdown, a cancel) was reported then; a second report under the same claim in one outcome batch would archive it
   * twice or give its destination its room back twice.
   */
  private void report(ClaimedDelivery d, WriteBack w) {
    if (lanes.done(d)) {
      outcomes.add(w);
    }
  }

  private void checkAttemptsDone() {
    if (attemptsDone != null && sending == 0 && !claims.claiming()) {
      attemptsDone.tryComplete();
    }
  }

  /**
   * Shutdown: stop claiming, hand back callbacks not yet started at once, let attempts in flight finish within the
   * grace period, and write every outcome.
   */
  @Override
  public Future<?> stop() {
    stopping = true;
    claims.stop();
    for (ClaimedDelivery d : lanes.takeUnstarted()) {
      outcomes.add(WriteBack.release(d));
    }
    attemptsDone = Promise.promise();
    checkAttemptsDone();
    long grace = Math.max(1, settings.shutdownGrace().toMillis());
    return Future.all(List.of(wakeConsumer.unregister(), wakeOneConsumer.unregister(), cancelConsumer.unregister(),
        secretsConsumer.unregister()))
      .compose(v -> attemptsDone.future())
      .compose(v -> outcomes.drain())
      .timeout(grace, TimeUnit.MILLISECONDS)
      .recover(err -> {
        LOG.warn("Dispatcher {} stopped with {} attempts still in flight and {} outcomes unwritten; their leases "
          + "will expire and they will be attempted again", owner, sending, outcomes.backlog());
        return Future.succeededFuture();
      })
      .eventually(() -> {
        outcomes.stop();
        return attempts.close();
      });
  }
}
