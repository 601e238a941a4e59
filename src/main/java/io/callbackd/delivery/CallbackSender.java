package io.callbackd.delivery;

import io.callbackd.webhook.DestinationGuard;
import io.callbackd.webhook.CallbackTarget;
import io.vertx.core.Future;
import io.vertx.core.MultiMap;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.net.SocketAddress;
import io.vertx.core.tracing.TracingPolicy;
import io.vertx.ext.web.client.HttpResponse;
import io.vertx.ext.web.client.WebClient;
import io.vertx.ext.web.client.WebClientOptions;

import java.net.InetAddress;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.TimeUnit;

/**
 * Makes one HTTP attempt. Owns its verticle's {@link WebClient}: kept in a field for the verticle's lifetime (a client
 * nobody references would be closed by the garbage collector), with kept-alive connections pooled per destination.
 * Every attempt ends in an {@link AttemptResult}; the returned future never fails.
 */
public final class CallbackSender {

  public static final int RESPONSE_EXCERPT_BYTES = 4096;
  static final String USER_AGENT = "callbackd/1";

  private final WebClient client;
  private final Duration timeout;

  public CallbackSender(Vertx vertx, Duration timeout, int maxPerDestination, int maxWaiting) {
    this.timeout = timeout;
    int ms = (int) Math.min(Integer.MAX_VALUE, timeout.toMillis());
    WebClientOptions options = new WebClientOptions()
      .setUserAgent(USER_AGENT)
      // A 3xx is an answer, not a new destination: following it could lead anywhere, so it counts as a failure.
      .setFollowRedirects(false)
      .setKeepAlive(true)
      .setKeepAliveTimeout(60)
      .setConnectTimeout(ms)
      .setTrustAll(false)
      .setVerifyHost(true)
      .setDecompressionSupported(false)
      // Connections go to a vetted IP address: SNI and the certificate check still use the URL's host name.
      .setForceSni(true)
      // The attempt's span (callbackd's, see Tracing) is the parent the receiver sees: Vert.x adds no span or header.
      .setTracingPolicy(TracingPolicy.IGNORE);
    // The pool's wait queue is unbounded unless bounded here; the dispatcher never has more attempts than this.
    PoolOptions pool = new PoolOptions().setHttp1MaxSize(maxPerDestination).setMaxWaitQueueSize(maxWaiting);
    this.client = WebClient.create(vertx, options, pool);
  }

  /**
   * POSTs to {@code target} over a connection to {@code address}, the address already vetted by the
   * {@link DestinationGuard}; the Host header and TLS (SNI, certificate check) use the target's host name.
   */
  public Future<AttemptResult> post(CallbackTarget target, InetAddress address, MultiMap headers, Buffer body,
                                    Instant startedAt, long t0, Duration deadline) {
    long ms = Math.max(1, deadline.toMillis() - elapsedMs(t0));
    Future<HttpResponse<String>> response;
    try {
      SocketAddress server = SocketAddress.inetSocketAddress(target.port(), address.getHostAddress());
      response = client.request(HttpMethod.POST, server, target.port(), target.host(), target.requestUri())
        .ssl(target.ssl())
        .followRedirects(false)
        .putHeaders(headers)
        .putHeader("content-type", "application/json")
        // The client's own timeout only bounds silence between bytes; the Future deadline bounds the whole attempt.
        .idleTimeout(ms)
        .as(new ResponseExcerptCodec(RESPONSE_EXCERPT_BYTES))
        .sendBuffer(body)
        .timeout(ms, TimeUnit.MILLISECONDS);
    } catch (RuntimeException e) {
      response = Future.failedFuture(e);
    }
    String sent = SentHeaders.json(target, headers, body.length());
    return outcome(response, startedAt, t0, deadline).map(r -> r.withRequestHeaders(sent));
  }

  /** An attempt that ended before any connection: resolution failed or took too long. */
  public AttemptResult failedBeforeConnect(Throwable err, Instant startedAt, long t0, Duration deadline) {
    return AttemptResult.failure(startedAt, elapsedMs(t0), AttemptErrors.kind(err), AttemptErrors.describe(err, deadline));
  }

  private Future<AttemptResult> outcome(Future<HttpResponse<String>> response, Instant startedAt, long t0,
                                        Duration deadline) {
    return response.map(resp -> {
      int status = resp.statusCode();
      Duration retryAfter = status == 429 || status == 503
        ? RetryAfter.parse(resp.getHeader("retry-after"), Instant.now()).orElse(null) : null;
      return AttemptResult.response(startedAt, elapsedMs(t0), status, resp.body(), retryAfter);
    }).recover(err -> Future.succeededFuture(AttemptResult.failure(startedAt, elapsedMs(t0), AttemptErrors.kind(err),
      AttemptErrors.describe(err, deadline))));
  }

  static long elapsedMs(long t0) {
    return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
  }

  public Future<Void> close() {
    client.close();
    return Future.succeededFuture();
  }
}
