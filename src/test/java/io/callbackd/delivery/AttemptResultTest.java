package io.callbackd.delivery;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class AttemptResultTest {

  private static final Instant STARTED = Instant.parse("2025-10-17T21:53:05Z");

  @ParameterizedTest
  @CsvSource({
    "200, SUCCESS", "201, SUCCESS", "204, SUCCESS", "299, SUCCESS",
    "300, REDIRECT", "301, REDIRECT", "302, REDIRECT", "399, REDIRECT",
    "400, CLIENT_ERROR", "404, CLIENT_ERROR", "410, CLIENT_ERROR", "429, CLIENT_ERROR", "499, CLIENT_ERROR",
    "500, SERVER_ERROR", "503, SERVER_ERROR", "599, SERVER_ERROR"})
  void kindFollowsTheStatusClass(int status, AttemptResult.Kind kind) {
    assertEquals(kind, AttemptResult.response(STARTED, 5, status, "", null).kind());
  }

  @Test
  void successHasNoErrorAndSucceeds() {
    AttemptResult r = AttemptResult.response(STARTED, 12, 200, "ok", null);
    assertTrue(r.succeeded());
    assertNull(r.error());
    assertEquals(200, r.statusCode());
    assertEquals("ok", r.responseExcerpt());
    assertEquals(12, r.durationMs());
    assertEquals(STARTED, r.startedAt());
  }

  @Test
  void nonSuccessNamesTheStatusAndKeepsRetryAfter() {
    AttemptResult r = AttemptResult.response(STARTED, 12, 503, "busy", Duration.ofSeconds(30));
    assertFalse(r.succeeded());
    assertEquals("HTTP 503", r.error());
    assertEquals(Duration.ofSeconds(30), r.retryAfter());
    assertEquals("busy", r.responseExcerpt());
  }

  @Test
  void failureHasNoStatusNoExcerptNoRetryAfter() {
    AttemptResult r = AttemptResult.failure(STARTED, 10_000, AttemptResult.Kind.TIMEOUT, "timeout after 10s");
    assertFalse(r.succeeded());
    assertNull(r.statusCode());
    assertNull(r.responseExcerpt());
    assertNull(r.retryAfter());
    assertEquals("timeout after 10s", r.error());
    assertEquals(AttemptResult.Kind.TIMEOUT, r.kind());
  }
}
