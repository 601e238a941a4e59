package io.callbackd.delivery;

import io.callbackd.secrets.OrganizationSigners;
import io.callbackd.webhook.BlockedDestinationException;
import io.callbackd.webhook.DestinationGuard;
import io.callbackd.webhook.CallbackSigner;
import io.callbackd.webhook.CallbackTarget;
import io.vertx.core.Future;
import io.vertx.core.MultiMap;
import io.vertx.core.Vertx;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Map;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * One attempt at one callback: resolve the destination's name and vet the address with the guard, sign the body
 * (with its organization's secrets, or the deployment's), POST it. Every attempt ends in an {@link AttemptResult}, or
 * in null when it was called off before anything was sent ({@code stillWanted} said no after resolution: the callback
 * was cancelled meanwhile). One per dispatcher: it owns the dispatcher's HTTP client.
 */
public final class CallbackAttempt {

  private final CallbackSender sender;
  private final DestinationResolver resolver;
  private final OrganizationSigners signers;
  private final Duration timeout;

  public CallbackAttempt(Vertx vertx, DestinationGuard guard, List<InetSocketAddress> dnsServers,
                         OrganizationSigners signers, Duration timeout, int maxPerDestination, int maxHeld) {
    this.sender = new CallbackSender(vertx, timeout, maxPerDestination, maxHeld);
    this.resolver = new DestinationResolver(vertx, guard, dnsServers, timeout);
    this.signers = signers;
    this.timeout = timeout;
  }

  /** @param traceHeaders the attempt span's trace context (traceparent, tracestate), sent beside the signature */
  public Future<AttemptResult> make(ClaimedDelivery d, BooleanSupplier stillWanted, Map<String, String> traceHeaders) {
    Instant startedAt = Instant.now();
    long t0 = System.nanoTime();
    if (d.target() == null || "invalid".equals(d.destination())) {
      // Written by a platform straight into the table: no attempt can ever succeed. The database filed it under
      // 'invalid' by the same rules, so the reason says what is wrong with it.
      String problem = CallbackTarget.problem(d.url());
      return Future.succeededFuture(AttemptResult.failure(startedAt, 0, AttemptResult.Kind.BLOCKED,
        problem != null ? problem : "invalid callback_url: not an absolute http or https URL"));
    }
    CallbackTarget target = d.target();
    // Resolution shares the attempt's deadline; its address is the one connected to, vetted first.
    // The request timeout, or less when the callback's life ends sooner.
    Duration deadline = d.timeLeft().compareTo(timeout) < 0 ? d.timeLeft() : timeout;
    Future<InetAddress> address = resolver.resolve(target.host()).timeout(deadline.toMillis(), TimeUnit.MILLISECONDS);
    // Read beside the resolution (usually already known: then it costs nothing).
    Future<CallbackSigner> signer = signers.signerFor(d.organizationId());
    return address.transform(resolved -> {
      // Handed back or cancelled while its host was being resolved: no attempt, whatever the resolution gave.
      if (!stillWanted.getAsBoolean()) {
        return Future.succeededFuture(null);
      }
      if (resolved.failed()) {
        Throwable err = resolved.cause();
        return Future.succeededFuture(err instanceof BlockedDestinationException
          ? AttemptResult.failure(startedAt, CallbackSender.elapsedMs(t0), AttemptResult.Kind.BLOCKED, err.getMessage())
          : sender.failedBeforeConnect(err, startedAt, t0, deadline));
      }
      return signer.transform(signed -> {
        if (signed.failed()) {
          // Never signed with other secrets than its organization's: not sent, tried again on its schedule. The
          // failure is callbackd's: it counts nothing against the receiver's breaker.
          return Future.succeededFuture(AttemptResult.failure(startedAt, CallbackSender.elapsedMs(t0),
            AttemptResult.Kind.LOCAL_ERROR, "not sent: signing secrets of organization " + d.organizationId()
              + " unavailable: " + signed.cause().getMessage()));
        }
        MultiMap headers = MultiMap.caseInsensitiveMultiMap();
        signed.result().headers(d.webhookId(), startedAt.getEpochSecond(), d.body().getBytes())
          .forEach(headers::add);
        traceHeaders.forEach(headers::add);
        return sender.post(target, resolved.result(), headers, d.body(), startedAt, t0, deadline);
      });
    });
  }

  public Future<Void> close() {
    return Future.join(sender.close(), resolver.close()).mapEmpty();
  }
}
