package io.callbackd.delivery;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.function.DoubleSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class DeliveryDecisionTest {

  private static final Instant NOW = Instant.parse("2025-10-17T21:53:05Z");
  private static final Instant STARTED = NOW.minusMillis(40);
  /** 0.5 makes the jitter vanish, so delays are exactly the scheduled ones. */
  private static final DoubleSupplier NO_JITTER = () -> 0.5;

  private final RetryPolicy policy = new RetryPolicy(
    List.of(Duration.ZERO, Duration.ofSeconds(5), Duration.ofMinutes(5)), 0.2);

  private static AttemptResult http(int status) {
    return AttemptResult.response(STARTED, 40, status, "", null);
  }

  private DeliveryDecision decide(AttemptResult r, int attemptNumber) {
    return DeliveryDecision.decide(r, attemptNumber, policy, NO_JITTER);
  }

  @ParameterizedTest
  @ValueSource(ints = {200, 201, 202, 204, 299})
  void twoHundredsAreDelivered(int status) {
    DeliveryDecision d = decide(http(status), 1);
    assertEquals(DeliveryDecision.DELIVERED, d.state());
    assertNull(d.retryDelay());
    assertNull(d.runError());
    assertTrue(d.finished());
  }

  @Test
  void deliveredOnTheLastAttemptIsStillDelivered() {
    assertEquals(DeliveryDecision.DELIVERED, decide(http(200), 3).state());
  }

  @Test
  void goneFailsAtOnceWhateverBudgetRemains() {
    DeliveryDecision d = decide(http(410), 1);
    assertEquals(DeliveryDecision.FAILED, d.state());
    assertEquals("receiver answered 410 Gone", d.runError());
    assertNull(d.retryDelay());
    assertTrue(d.finished());
  }

  @Test
  void goneOnTheLastAttemptIsReportedAsGoneNotAsGivingUp() {
    assertEquals("receiver answered 410 Gone", decide(http(410), 3).runError());
  }

  @Test
  void serviceUnavailableMidScheduleStaysPendingForTheNextDelay() {
    DeliveryDecision first = decide(http(503), 1);
    assertEquals(DeliveryDecision.PENDING, first.state());
    assertFalse(first.finished());
    assertEquals(Duration.ofSeconds(5), first.retryDelay());
    assertEquals("HTTP 503", first.runError());

    DeliveryDecision second = decide(http(503), 2);
    assertEquals(DeliveryDecision.PENDING, second.state());
    assertEquals(Duration.ofMinutes(5), second.retryDelay());
  }

  @Test
  void theDelayCarriesTheJitter() {
    DeliveryDecision d = DeliveryDecision.decide(http(503), 1, policy, () -> 0.0);
    assertEquals(Duration.ofSeconds(4), d.retryDelay());
  }

  @Test
  void retryAfterOfTheResponseMovesTheNextAttempt() {
    AttemptResult r = AttemptResult.response(STARTED, 40, 429, "slow down", Duration.ofMinutes(2));
    DeliveryDecision d = decide(r, 1);
    assertEquals(DeliveryDecision.PENDING, d.state());
    assertEquals(Duration.ofMinutes(2), d.retryDelay());
    assertEquals("HTTP 429", d.runError());
  }

  @Test
  void lastAttemptFailingGivesUpNamingTheAttemptCountAndTheLastError() {
    DeliveryDecision d = decide(http(503), 3);
    assertEquals(DeliveryDecision.FAILED, d.state());
    assertTrue(d.finished());
    assertNull(d.retryDelay());
    assertEquals("gave up after 3 attempts: HTTP 503", d.runError());
  }

  @Test
  void singleAttemptBudgetGivesUpAfterTheFirstFailure() {
    RetryPolicy once = new RetryPolicy(List.of(Duration.ZERO), 0.2);
    DeliveryDecision d = DeliveryDecision.decide(http(500), 1, once, NO_JITTER);
    assertEquals("gave up after 1 attempts: HTTP 500", d.runError());
    assertEquals(DeliveryDecision.FAILED, d.state());
  }

  @Test
  void timeoutErrorTextIsCarriedWhilePendingAndWhenGivingUp() {
    AttemptResult timeout = AttemptResult.failure(STARTED, 10_000, AttemptResult.Kind.TIMEOUT, "timeout after 10s");
    DeliveryDecision pending = decide(timeout, 1);
    assertEquals(DeliveryDecision.PENDING, pending.state());
    assertEquals("timeout after 10s", pending.runError());
    assertEquals(Duration.ofSeconds(5), pending.retryDelay());

    DeliveryDecision failed = decide(timeout, 3);
    assertEquals(DeliveryDecision.FAILED, failed.state());
    assertEquals("gave up after 3 attempts: timeout after 10s", failed.runError());
  }

  @Test
  void connectErrorIsRetried() {
    AttemptResult refused = AttemptResult.failure(STARTED, 2, AttemptResult.Kind.CONNECT_ERROR, "connection refused");
    DeliveryDecision d = decide(refused, 1);
    assertEquals(DeliveryDecision.PENDING, d.state());
    assertEquals("connection refused", d.runError());
  }

  @Test
  void blockedDestinationFailsAtOnceWithItsReason() {
    AttemptResult blocked = AttemptResult.failure(STARTED, 0, AttemptResult.Kind.BLOCKED,
      "destination 10.0.0.1 is a private address");
    DeliveryDecision d = decide(blocked, 1);
    assertEquals(DeliveryDecision.FAILED, d.state());
    assertNull(d.retryDelay());
    assertEquals("destination 10.0.0.1 is a private address", d.runError());
  }

  @ParameterizedTest
  @ValueSource(ints = {301, 302, 307, 308})
  void redirectsAreFailuresNotDeliveries(int status) {
    DeliveryDecision d = decide(http(status), 1);
    assertEquals(DeliveryDecision.PENDING, d.state());
    assertEquals("HTTP " + status, d.runError());
    assertEquals("gave up after 3 attempts: HTTP " + status, decide(http(status), 3).runError());
  }

  @ParameterizedTest
  @ValueSource(ints = {400, 404, 429, 500, 502})
  void otherErrorStatusesAreRetried(int status) {
    assertEquals(DeliveryDecision.PENDING, decide(http(status), 1).state());
  }
}
