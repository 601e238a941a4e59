package io.callbackd.delivery;

import java.time.Duration;
import java.time.Instant;

/**
 * What one attempt did: the receiver's status (null when there was no response), a short error (null after a 2xx),
 * the first bytes of the response body, how long it took, and the request headers it sent (JSON, signatures left
 * out; null when nothing was sent).
 */
public record AttemptResult(
  Instant startedAt,
  long durationMs,
  Integer statusCode,
  String error,
  String responseExcerpt,
  Duration retryAfter,
  Kind kind,
  String requestHeaders) {

  /**
   * The classes of outcome, also the {@code result} label of the attempt metrics. {@code LOCAL_ERROR}: callbackd
   * could not send it (its organization's signing secrets could not be read, an internal failure); nothing was sent,
   * and it says nothing about the receiver.
   */
  public enum Kind {
    SUCCESS, REDIRECT, CLIENT_ERROR, SERVER_ERROR, TIMEOUT, CONNECT_ERROR, BLOCKED, LOCAL_ERROR
  }

  /** The same result, recording the headers of the request that was sent. */
  public AttemptResult withRequestHeaders(String json) {
    return new AttemptResult(startedAt, durationMs, statusCode, error, responseExcerpt, retryAfter, kind, json);
  }

  public boolean succeeded() {
    return kind == Kind.SUCCESS;
  }

  public static AttemptResult response(Instant startedAt, long durationMs, int status, String excerpt, Duration retryAfter) {
    Kind kind;
    if (status >= 200 && status < 300) {
      kind = Kind.SUCCESS;
    } else if (status >= 300 && status < 400) {
      kind = Kind.REDIRECT;
    } else if (status >= 400 && status < 500) {
      kind = Kind.CLIENT_ERROR;
    } else {
      kind = Kind.SERVER_ERROR;
    }
    String error = kind == Kind.SUCCESS ? null : "HTTP " + status;
    return new AttemptResult(startedAt, durationMs, status, error, excerpt, retryAfter, kind, null);
  }

  public static AttemptResult failure(Instant startedAt, long durationMs, Kind kind, String error) {
    return new AttemptResult(startedAt, durationMs, null, error, null, null, kind, null);
  }
}
