package io.callbackd.delivery;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Instant;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

class DestinationHealthTest {

  private static AttemptResult http(int status) {
    return AttemptResult.response(Instant.EPOCH, 5, status, "", null);
  }

  @ParameterizedTest
  @ValueSource(ints = {500, 502, 503, 504, 599, 408, 429})
  void answersThatSayTheDestinationIsUnwellCountTowardItsBreaker(int status) {
    assertEquals(DestinationHealth.UNWELL, DestinationHealth.of(http(status)));
  }

  @ParameterizedTest
  @ValueSource(ints = {200, 204, 301, 400, 401, 403, 404, 410, 422})
  void otherAnswersShowAReceiverThatIsUp(int status) {
    assertEquals(DestinationHealth.HEALTHY, DestinationHealth.of(http(status)));
  }

  @ParameterizedTest
  @EnumSource(value = AttemptResult.Kind.class, names = {"TIMEOUT", "CONNECT_ERROR"})
  void noAnswerAtAllIsUnwell(AttemptResult.Kind kind) {
    // Connection refused or reset, TLS failures and DNS failures are all CONNECT_ERROR (see AttemptErrors).
    assertEquals(DestinationHealth.UNWELL, DestinationHealth.of(AttemptResult.failure(Instant.EPOCH, 1, kind, "x")));
  }

  @ParameterizedTest
  @ValueSource(strings = {"unknown host nowhere.invalid", "TLS error: PKIX path building failed"})
  void dnsAndTlsFailuresAreUnwell(String error) {
    Throwable cause = error.startsWith("unknown")
      ? new java.net.UnknownHostException("nowhere.invalid")
      : new javax.net.ssl.SSLHandshakeException("PKIX path building failed");
    AttemptResult r = AttemptResult.failure(Instant.EPOCH, 1, AttemptErrors.kind(cause), error);
    assertEquals(DestinationHealth.UNWELL, DestinationHealth.of(r));
    assertEquals("unwell", DestinationHealth.of(r).label());
  }

  @ParameterizedTest
  @ValueSource(strings = {"destination 10.0.0.1 is a private address"})
  void aDestinationRefusedByTheGuardSaysNothingAboutItsHealth(String error) {
    AttemptResult r = AttemptResult.failure(Instant.EPOCH, 0, AttemptResult.Kind.BLOCKED, error);
    assertEquals(DestinationHealth.UNKNOWN, DestinationHealth.of(r));
    assertEquals(null, DestinationHealth.of(r).label());
  }
}
