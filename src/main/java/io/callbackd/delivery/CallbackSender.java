package io.callbackd.delivery;

import io.callbackd.webhook.DestinationGuard;
import io.callbackd.webhook.CallbackTarget;
import io.vertx.core.Future;
import io.vertx.core.MultiMap;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.net.SocketAddress;
import io.vertx.core.tracing.TracingPolicy;

import java.net.InetAddress;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Makes one HTTP attempt. Owns its verticle's HTTP client: kept in a field for the verticle's lifetime (a client
 * nobody references would be closed by the garbage collector), with kept-alive connections pooled per destination.
 * Every attempt ends in an {@link AttemptResult}; the returned future never fails.
 *
 * <p>The attempt's deadline covers everything from waiting for a pooled connection to the last byte of the answer.
 * When it passes, the request is reset, which closes its connection: a receiver that keeps trickling bytes (or
 * streams a gigabyte) would otherwise keep that connection, and a place in the destination's pool, for as long as it
 * likes after callbackd recorded the timeout. The client's idle timeout alone only bounds silence between bytes.
 */
public final class CallbackSender {

  public static final int RESPONSE_EXCERPT_BYTES = 4096;
  static final String USER_AGENT = "callbackd/1";

  private final Vertx vertx;
  private final HttpClientAgent client;
  private final Duration timeout;

  public CallbackSender(Vertx vertx, Duration timeout, int maxPerDestination, int maxWaiting) {
    this.vertx = vertx;
    this.timeout = timeout;
    int ms = (int) Math.min(Integer.MAX_VALUE, timeout.toMillis());
    HttpClientOptions options = new HttpClientOptions()
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
    this.client = vertx.createHttpClient(options, pool);
  }

  /**
   * POSTs to {@code target} over a connection to {@code address}, the address already vetted by the
   * {@link DestinationGuard}; the Host header and TLS (SNI, certificate check) use the target's host name.
   */
  public Future<AttemptResult> post(CallbackTarget target, InetAddress address, MultiMap headers, Buffer body,
                                    Instant startedAt, long t0, Duration deadline) {
    long ms = Math.max(1, deadline.toMillis() - elapsedMs(t0));
    Future<Answer> answer;
    try {
      MultiMap sentHeaders = HttpHeaders.headers().addAll(headers)
        .set(HttpHeaders.CONTENT_TYPE, "application/json")
        .set(HttpHeaders.USER_AGENT, USER_AGENT);
      if (target.host().indexOf(':') >= 0) {
        // An IPv6 literal: Vert.x writes the host into Host without its brackets ("::1:8080"), which receivers
        // refuse; given a Host header, it sends that one.
        sentHeaders.set(HttpHeaders.HOST, target.hostHeader());
      }
      RequestOptions request = new RequestOptions()
        .setMethod(HttpMethod.POST)
        .setServer(SocketAddress.inetSocketAddress(target.port(), address.getHostAddress()))
        .setHost(target.host())
        .setPort(target.port())
        .setURI(target.requestUri())
        .setSsl(target.ssl())
        // A 3xx is an answer, not a new destination: following it could lead anywhere, so it counts as a failure.
        .setFollowRedirects(false)
        .setHeaders(sentHeaders)
        // Waiting for a pooled connection counts against the deadline too.
        .setConnectTimeout(ms)
        .setIdleTimeout(ms);
      answer = exchange(request, body, ms);
    } catch (RuntimeException e) {
      answer = Future.failedFuture(e);
    }
    String sent = SentHeaders.json(target, headers, body.length());
    return outcome(answer, startedAt, t0, deadline).map(r -> r.withRequestHeaders(sent));
  }

  /**
   * The status, Retry-After and the body's first bytes, or a failure; at the deadline the request is reset. Once the
   * status line has come, the answer is that status whatever the body does after it: a body cut by the deadline or
   * by a broken connection leaves the excerpt read so far, and a 2xx whose body trickles is still a delivery (made
   * a failure, it would be sent again: a duplicate).
   */
  private Future<Answer> exchange(RequestOptions options, Buffer body, long ms) {
    Promise<Answer> answer = Promise.promise();
    HttpClientRequest[] started = new HttpClientRequest[1];
    HttpClientResponse[] answered = new HttpClientResponse[1];
    ResponseExcerpt excerpt = new ResponseExcerpt(RESPONSE_EXCERPT_BYTES);
    // The timeout's exception is made only when the deadline passes: filling in a stack trace for every attempt
    // that never needs it was a twentieth of the dispatchers' CPU.
    long timer = vertx.setTimer(ms, t -> {
      TimeoutException late = new TimeoutException("no answer within " + ms + " ms");
      boolean ended = answered[0] != null ? answer.tryComplete(answerOf(answered[0], excerpt)) : answer.tryFail(late);
      if (ended && started[0] != null) {
        // Nothing more is read of it: the connection goes rather than carry the rest of this answer into the next.
        started[0].reset(0, late);
      }
    });
    client.request(options).onComplete(got -> {
      if (got.failed()) {
        answer.tryFail(got.cause());
        return;
      }
      HttpClientRequest request = got.result();
      if (answer.future().isComplete()) {
        // The deadline passed while this request waited for a connection: it is never sent.
        request.reset(0, answer.future().cause());
        return;
      }
      started[0] = request;
      request.send(body).onComplete(sent -> {
        if (sent.failed()) {
          answer.tryFail(sent.cause());
          return;
        }
        HttpClientResponse response = sent.result();
        answered[0] = response;
        response.handler(excerpt::append);
        // Ended or broken, the body does not change the answer: its status.
        response.end().onComplete(ended -> answer.tryComplete(answerOf(response, excerpt)));
      });
    });
    return answer.future().onComplete(done -> vertx.cancelTimer(timer));
  }

  private record Answer(int status, String retryAfter, String excerpt) {
  }

  private static Answer answerOf(HttpClientResponse response, ResponseExcerpt excerpt) {
    return new Answer(response.statusCode(), response.getHeader("retry-after"), excerpt.text());
  }

  /** An attempt that ended before any connection: resolution failed or took too long. */
  public AttemptResult failedBeforeConnect(Throwable err, Instant startedAt, long t0, Duration deadline) {
    return AttemptResult.failure(startedAt, elapsedMs(t0), AttemptErrors.kind(err), AttemptErrors.describe(err, deadline));
  }

  private Future<AttemptResult> outcome(Future<Answer> answer, Instant startedAt, long t0, Duration deadline) {
    return answer.map(a -> {
      Duration retryAfter = a.status() == 429 || a.status() == 503
        ? RetryAfter.parse(a.retryAfter(), Instant.now()).orElse(null) : null;
      return AttemptResult.response(startedAt, elapsedMs(t0), a.status(), a.excerpt(), retryAfter);
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
