package io.callbackd.delivery;

import io.callbackd.secrets.OrganizationSigners;
import io.callbackd.secrets.SigningSecretStore;
import io.callbackd.tracing.Tracing;
import io.callbackd.webhook.CallbackSigner;
import io.callbackd.webhook.DestinationGuard;
import io.callbackd.webhook.SecretsCipher;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;

import java.lang.management.CompilationMXBean;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Rehearses delivery before the dispatchers start. Callbacks that exist in no table are made by PostgreSQL in a
 * claim's columns, on the claims' connections; each is signed and POSTed by the dispatchers' own attempt code
 * ({@link AttemptCycle}: span, attempt, decision, metrics, write-back) to a receiver inside this process on 127.0.0.1,
 * the only address the rehearsal's guard allows; their outcomes go through the real outcome statements, which find
 * no such callbacks and so write nothing.
 *
 * <p>Why: on a small machine, the first callbacks after a start waited for class loading, the first HTTP connection
 * and the compiler (the first POST went out about two seconds after readiness, and callbacks committed in that time
 * waited for it). A rehearsal pays for that before callbackd reports ready, when nothing waits on it.
 */
public final class DeliveryRehearsal {

  /** What the rehearsal did: its attempts, how many of them the receiver answered 2xx, how many it saw signed. */
  public record Summary(int attempts, int delivered, int signed, int outcomeBatches, int outcomesHeld,
                        Duration took, Duration compilerWait) {
  }

  /** Connections to the rehearsal's receiver, as a destination's limit would allow. */
  static final int CONCURRENCY = 8;
  /** Callbacks per rehearsed claim, and so outcomes per rehearsed batch. */
  static final int BATCH = 32;
  private static final Duration TIMEOUT = Duration.ofSeconds(5);
  private static final String DISPATCHER = "rehearsal";
  /** The JIT compiler counts as done with the rehearsal's code once no compilation ended for this long. */
  static final long COMPILER_QUIET_MS = 200;
  /** The longest wait for it. */
  static final long COMPILER_WAIT_MAX_MS = 10_000;

  private final Vertx vertx;
  private final CallbackSigner signer;
  private final SigningSecretStore secrets;
  private final SecretsCipher cipher;
  private final DeliveryStore store;
  private final DeliveryStore.BreakerRule breaker;
  private final int perDestination;
  private final RetryPolicy policy;
  private final DeliveryEvents events;

  /**
   * @param signer the deployment's signer; when it signs nothing, the rehearsal signs with a key of its own
   * @param events where the rehearsal's attempts are reported: not the deployment's metrics (give it a registry
   *               nobody scrapes, so that the same metrics code runs)
   */
  public DeliveryRehearsal(Vertx vertx, CallbackSigner signer, SigningSecretStore secrets, SecretsCipher cipher,
                           DeliveryStore store, DeliveryStore.BreakerRule breaker, int perDestination,
                           RetryPolicy policy, DeliveryEvents events) {
    this.vertx = vertx;
    this.signer = signer.isEnabled() ? signer : CallbackSigner.ofKeys(List.of(randomKey()));
    this.secrets = secrets;
    this.cipher = cipher;
    this.store = store;
    this.breaker = breaker;
    this.perDestination = perDestination;
    this.policy = policy;
    this.events = events;
  }

  private static byte[] randomKey() {
    byte[] key = new byte[32];
    ThreadLocalRandom.current().nextBytes(key);
    return key;
  }

  /** Makes {@code attempts} attempts; fails when the receiver cannot be started or a statement fails. */
  public Future<Summary> run(int attempts) {
    long t0 = System.nanoTime();
    AtomicInteger signed = new AtomicInteger();
    HttpServer receiver = vertx.createHttpServer(new HttpServerOptions().setHost("127.0.0.1"))
      .requestHandler(req -> req.body().onComplete(body -> {
        if (req.getHeader(CallbackSigner.HEADER_SIGNATURE) != null) {
          signed.incrementAndGet();
        }
        req.response().setStatusCode(204).end();
      }));
    return receiver.listen(0, "127.0.0.1").compose(server -> {
      DestinationGuard guard = DestinationGuard.fromConfig(false, "127.0.0.1/32");
      CallbackAttempt attempt = new CallbackAttempt(vertx, guard, List.of(),
        new OrganizationSigners(secrets, cipher, signer), TIMEOUT, CONCURRENCY, BATCH);
      // Traced as off: the rehearsal's spans must not reach the deployment's trace exporter.
      AttemptCycle cycle = new AttemptCycle(attempt, policy, events, Tracing.off());
      String destination = "http://127.0.0.1:" + server.actualPort();
      Run run = new Run(cycle, destination + "/rehearsal", destination, attempts);
      run.round();
      return run.done.future()
        .eventually(attempt::close)
        .eventually(receiver::close)
        .compose(v -> {
          Duration took = Duration.ofNanos(System.nanoTime() - t0);
          return compilerQuiet().map(wait -> new Summary(run.claimed, run.delivered, signed.get(), run.batches,
            run.held, took, wait));
        });
    });
  }

  /*
   * The rehearsal leaves the JIT compiler a queue of hot methods, C2's above all; compiled after readiness, they would
   * take CPU from the first real callbacks on a small machine. So the rehearsal ends only once no compilation has
   * ended for COMPILER_QUIET_MS, or after COMPILER_WAIT_MAX_MS.
   */
  private Future<Duration> compilerQuiet() {
    CompilationMXBean jit = ManagementFactory.getCompilationMXBean();
    if (jit == null || !jit.isCompilationTimeMonitoringSupported()) {
      return Future.succeededFuture(Duration.ZERO);
    }
    long t0 = System.nanoTime();
    long step = COMPILER_QUIET_MS / 2;
    Promise<Duration> quiet = Promise.promise();
    long[] last = {jit.getTotalCompilationTime()};
    int[] quietSteps = {0};
    vertx.setPeriodic(step, step, timer -> {
      long total = jit.getTotalCompilationTime();
      quietSteps[0] = total == last[0] ? quietSteps[0] + 1 : 0;
      last[0] = total;
      Duration waited = Duration.ofNanos(System.nanoTime() - t0);
      if (quietSteps[0] * step >= COMPILER_QUIET_MS || waited.toMillis() >= COMPILER_WAIT_MAX_MS) {
        vertx.cancelTimer(timer);
        quiet.tryComplete(waited);
      }
    });
    return quiet.future();
  }

  /**
   * One rehearsal, in rounds as a dispatcher works: claim a batch, attempt all of it (at most {@link #CONCURRENCY}
   * connections to the receiver), write the batch's outcomes, and again until every attempt is made.
   */
  private final class Run {
    final AttemptCycle cycle;
    final String url;
    final String destination;
    final int total;
    final Promise<Void> done = Promise.promise();
    int claimed;
    int delivered;
    int batches;
    int held;

    Run(AttemptCycle cycle, String url, String destination, int total) {
      this.cycle = cycle;
      this.url = url;
      this.destination = destination;
      this.total = total;
    }

    void round() {
      if (claimed >= total) {
        done.tryComplete();
        return;
      }
      int count = Math.min(BATCH, total - claimed);
      store.rehearsalClaims(claimed + 1, count, url, destination, TIMEOUT).compose(deliveries -> {
        if (deliveries.isEmpty()) {
          return Future.failedFuture(new IllegalStateException("the rehearsal's claim returned no callbacks"));
        }
        claimed += deliveries.size();
        List<Future<WriteBack>> attempts = new ArrayList<>(deliveries.size());
        for (ClaimedDelivery d : deliveries) {
          attempts.add(cycle.run(d, () -> true));
        }
        return Future.join(attempts).transform(ignored -> {
          List<WriteBack> outcomes = new ArrayList<>(attempts.size());
          for (Future<WriteBack> a : attempts) {
            WriteBack w = a.result();
            if (w != null) {
              delivered += DeliveryDecision.DELIVERED.equals(w.finalState()) ? 1 : 0;
              outcomes.add(w);
              if (w.finalOutcome() != null) {
                // Counted as the outcome writer counts a written final outcome (these are dropped: none is queued).
                events.finished(w.finalOutcome(), java.time.Duration.ofNanos(System.nanoTime() - w.scheduledNanos()));
              }
            }
          }
          // None of these callbacks is in the queue: the statements hold none of them and change nothing, but
          // they are prepared, planned and run as the dispatchers' first batches would be.
          return store.recordOutcomes(outcomes, DISPATCHER, breaker, perDestination);
        });
      }).onSuccess(recorded -> {
        batches++;
        held += recorded.held();
        round();
      }).onFailure(done::tryFail);
    }
  }
}
