package io.callbackd.webhook;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.standardwebhooks.Webhook;
import com.standardwebhooks.exceptions.WebhookVerificationException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.NullSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Our signatures are checked with the reference Standard Webhooks library: agreeing with it is what makes receivers'
 * off-the-shelf verifiers work.
 */
class CallbackSignerTest {

  private static final String NEW_SECRET = "whsec_" + base64("new-secret-0123456789abcdef-32by");
  private static final String OLD_SECRET = "whsec_" + base64("old-secret-0123456789abcdef-32by");
  private static final String UNRELATED_SECRET = "whsec_" + base64("someone-elses-secret-0123456789a");

  private static final String BODY = "{\"type\":\"run.completed\",\"run_id\":\"run_42\",\"status\":\"succeeded\"}";

  private static String base64(String key) {
    return Base64.getEncoder().encodeToString(key.getBytes(StandardCharsets.US_ASCII));
  }

  private static long now() {
    return Instant.now().getEpochSecond();
  }

  /** The reference verifier takes the multi-valued header map an HTTP client would expose. */
  private static Map<String, List<String>> asHttpHeaders(Map<String, String> headers) {
    return headers.entrySet().stream().collect(Collectors.toMap(Map.Entry::getKey, e -> List.of(e.getValue())));
  }

  private static void verify(String secret, String body, Map<String, String> headers)
      throws WebhookVerificationException {
    new Webhook(secret).verify(body, asHttpHeaders(headers));
  }

  @Test
  void matchesThePublishedStandardWebhooksExample() {
    // Example from the Standard Webhooks specification, independent of both implementations.
    CallbackSigner signer = CallbackSigner.fromConfig("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");

    Map<String, String> headers = signer.headers(
        "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330L, "{\"test\": 2432232314}".getBytes(StandardCharsets.UTF_8));

    assertEquals("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", headers.get("webhook-signature"));
  }

  @Test
  void headersAreIdTimestampSignatureInThatOrder() {
    CallbackSigner signer = CallbackSigner.fromConfig(NEW_SECRET);

    Map<String, String> headers = signer.headers("msg_1", 1700000000L, BODY.getBytes(StandardCharsets.UTF_8));

    assertEquals(List.of("webhook-id", "webhook-timestamp", "webhook-signature"), List.copyOf(headers.keySet()));
    assertEquals("msg_1", headers.get("webhook-id"));
    assertEquals("1700000000", headers.get("webhook-timestamp"));
    assertTrue(headers.get("webhook-signature").matches("v1,[A-Za-z0-9+/]{43}="), headers.get("webhook-signature"));
  }

  @Test
  void referenceLibraryAcceptsOurSignature() {
    CallbackSigner signer = CallbackSigner.fromConfig(NEW_SECRET);

    Map<String, String> headers = signer.headers("msg_2Y6", now(), BODY.getBytes(StandardCharsets.UTF_8));

    assertDoesNotThrow(() -> verify(NEW_SECRET, BODY, headers));
  }

  @Test
  void eachSecretOfARotationVerifiesOnItsOwn() {
    CallbackSigner signer = CallbackSigner.fromConfig(NEW_SECRET + "," + OLD_SECRET);

    Map<String, String> headers = signer.headers("msg_rotation", now(), BODY.getBytes(StandardCharsets.UTF_8));

    assertEquals(2, headers.get("webhook-signature").split(" ").length);
    assertDoesNotThrow(() -> verify(NEW_SECRET, BODY, headers), "receiver already on the new secret");
    assertDoesNotThrow(() -> verify(OLD_SECRET, BODY, headers), "receiver still on the old secret");
    assertThrows(WebhookVerificationException.class, () -> verify(UNRELATED_SECRET, BODY, headers));
  }

  @Test
  void signaturesFollowTheConfiguredOrderNewestFirst() throws Exception {
    long timestamp = 1700000123L;
    CallbackSigner signer = CallbackSigner.fromConfig(NEW_SECRET + "," + OLD_SECRET);

    String[] signatures = signer.headers("msg_order", timestamp, BODY.getBytes(StandardCharsets.UTF_8))
        .get("webhook-signature").split(" ");

    assertEquals(new Webhook(NEW_SECRET).sign("msg_order", timestamp, BODY), signatures[0]);
    assertEquals(new Webhook(OLD_SECRET).sign("msg_order", timestamp, BODY), signatures[1]);
  }

  @Test
  void tamperedBodyIsRejected() {
    CallbackSigner signer = CallbackSigner.fromConfig(NEW_SECRET);
    Map<String, String> headers = signer.headers("msg_tamper", now(), BODY.getBytes(StandardCharsets.UTF_8));

    String tampered = BODY.replace("succeeded", "failed");

    assertThrows(WebhookVerificationException.class, () -> verify(NEW_SECRET, tampered, headers));
  }

  @Test
  void changedIdOrTimestampIsRejected() {
    CallbackSigner signer = CallbackSigner.fromConfig(NEW_SECRET);
    long timestamp = now();
    Map<String, String> headers = new java.util.HashMap<>(
        signer.headers("msg_original", timestamp, BODY.getBytes(StandardCharsets.UTF_8)));

    headers.put("webhook-id", "msg_other");
    assertThrows(WebhookVerificationException.class, () -> verify(NEW_SECRET, BODY, headers));

    headers.put("webhook-id", "msg_original");
    headers.put("webhook-timestamp", Long.toString(timestamp - 1));
    assertThrows(WebhookVerificationException.class, () -> verify(NEW_SECRET, BODY, headers));
  }

  @Test
  void staleTimestampIsRejected() {
    CallbackSigner signer = CallbackSigner.fromConfig(NEW_SECRET);

    Map<String, String> headers =
        signer.headers("msg_stale", now() - 600, BODY.getBytes(StandardCharsets.UTF_8));

    WebhookVerificationException e =
        assertThrows(WebhookVerificationException.class, () -> verify(NEW_SECRET, BODY, headers));
    assertTrue(e.getMessage().contains("too old"), e.getMessage());
  }

  @Test
  void futureTimestampIsRejected() {
    CallbackSigner signer = CallbackSigner.fromConfig(NEW_SECRET);

    Map<String, String> headers =
        signer.headers("msg_future", now() + 600, BODY.getBytes(StandardCharsets.UTF_8));

    assertThrows(WebhookVerificationException.class, () -> verify(NEW_SECRET, BODY, headers));
  }

  @Test
  void signsTheExactBytesIncludingNonAscii() {
    String body = "{\"summary\":\"Zürich → 東京 ✓ \\u00e9\",\"emoji\":\"🚀\"}";
    CallbackSigner signer = CallbackSigner.fromConfig(NEW_SECRET);

    Map<String, String> headers = signer.headers("msg_utf8", now(), body.getBytes(StandardCharsets.UTF_8));

    assertDoesNotThrow(() -> verify(NEW_SECRET, body, headers));
  }

  @Test
  void emptyBodyCanBeSigned() {
    CallbackSigner signer = CallbackSigner.fromConfig(NEW_SECRET);

    Map<String, String> headers = signer.headers("msg_empty", now(), new byte[0]);

    assertDoesNotThrow(() -> verify(NEW_SECRET, "", headers));
  }

  @ParameterizedTest
  @NullSource
  @ValueSource(strings = {"", "   ", "\t"})
  void noSecretsMeansUnsigned(String config) {
    CallbackSigner signer = CallbackSigner.fromConfig(config);

    Map<String, String> headers = signer.headers("msg_plain", 1700000000L, BODY.getBytes(StandardCharsets.UTF_8));

    assertFalse(signer.isEnabled());
    assertEquals(0, signer.secretCount());
    assertEquals(List.of("webhook-id", "webhook-timestamp"), List.copyOf(headers.keySet()));
    assertNull(headers.get("webhook-signature"));
    assertEquals("1700000000", headers.get("webhook-timestamp"));
  }

  @Test
  void whitespaceAroundEntriesIsIgnored() throws Exception {
    CallbackSigner spaced = CallbackSigner.fromConfig("  " + NEW_SECRET + " ,\t" + OLD_SECRET + "\n");
    CallbackSigner tight = CallbackSigner.fromConfig(NEW_SECRET + "," + OLD_SECRET);
    byte[] body = BODY.getBytes(StandardCharsets.UTF_8);

    assertEquals(2, spaced.secretCount());
    assertTrue(spaced.isEnabled());
    assertEquals(tight.headers("msg_ws", 1700000000L, body), spaced.headers("msg_ws", 1700000000L, body));
  }

  @Test
  void malformedSecretNamesConfigKeyAndPositionButNotTheSecret() {
    String secretWithoutPrefix = "hunter2-super-private-value";

    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> CallbackSigner.fromConfig(NEW_SECRET + "," + secretWithoutPrefix));

    assertTrue(e.getMessage().contains("signing_secrets"), e.getMessage());
    assertTrue(e.getMessage().contains("entry 2"), e.getMessage());
    assertTrue(e.getMessage().contains("whsec_"), "says what the expected form is: " + e.getMessage());
    assertNoSecretLeaks(e, secretWithoutPrefix, NEW_SECRET.substring(6));
  }

  @Test
  void invalidBase64IsReportedWithoutTheSecret() {
    String badBase64 = "whsec_s3cr3t!!not*base64";

    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> CallbackSigner.fromConfig(OLD_SECRET + ", " + NEW_SECRET + " , " + badBase64));

    assertTrue(e.getMessage().contains("signing_secrets"), e.getMessage());
    assertTrue(e.getMessage().contains("entry 3"), e.getMessage());
    assertTrue(e.getMessage().contains("base64"), e.getMessage());
    // The JDK decoder's own message quotes the offending character; it must not come along as the cause.
    assertNoSecretLeaks(e, "s3cr3t", "not*base64", "21" /* hex of '!' */);
  }

  @ParameterizedTest
  @ValueSource(strings = {"whsec_", "  whsec_  "})
  void emptyKeyIsRejected(String entry) {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> CallbackSigner.fromConfig(entry));

    assertTrue(e.getMessage().contains("signing_secrets"), e.getMessage());
    assertTrue(e.getMessage().contains("entry 1"), e.getMessage());
  }

  @ParameterizedTest
  @ValueSource(strings = {",", "X,", ",X", "X,,X", "X, ,X"})
  void emptyEntryIsRejectedRatherThanSkipped(String pattern) {
    // An empty entry usually means an unset variable in a template such as "${NEW},${OLD}": say so loudly.
    String config = pattern.replace("X", NEW_SECRET);
    int emptyPosition = List.of(config.split(",", -1)).stream().map(String::strip).collect(Collectors.toList())
        .indexOf("") + 1;

    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> CallbackSigner.fromConfig(config));

    assertTrue(e.getMessage().contains("entry " + emptyPosition), e.getMessage());
    assertNoSecretLeaks(e, NEW_SECRET.substring(6));
  }

  @Test
  void prefixIsCaseSensitive() {
    // The reference verifier only strips "whsec_", so accepting "WHSEC_" would sign with a key receivers can't use.
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> CallbackSigner.fromConfig("WHSEC_" + NEW_SECRET.substring(6)));

    assertTrue(e.getMessage().contains("entry 1"), e.getMessage());
  }

  @Test
  void toStringRevealsOnlyTheCount() {
    CallbackSigner signer = CallbackSigner.fromConfig(NEW_SECRET + "," + OLD_SECRET);

    String text = signer.toString();

    assertEquals("CallbackSigner[secrets=2]", text);
    assertFalse(text.contains(NEW_SECRET.substring(6)));
  }

  @Test
  void rejectsInvalidArguments() {
    CallbackSigner signer = CallbackSigner.fromConfig(NEW_SECRET);
    byte[] body = BODY.getBytes(StandardCharsets.UTF_8);

    assertThrows(NullPointerException.class, () -> signer.headers(null, 1L, body));
    assertThrows(NullPointerException.class, () -> signer.headers("msg", 1L, null));
    assertThrows(IllegalArgumentException.class, () -> signer.headers("", 1L, body));
    assertThrows(IllegalArgumentException.class, () -> signer.headers("msg 1", 1L, body));
    assertThrows(IllegalArgumentException.class, () -> signer.headers("msg\r\nX-Injected: 1", 1L, body));
    assertThrows(IllegalArgumentException.class, () -> signer.headers("msg", -1L, body));
  }

  @Test
  void sharedInstanceIsSafeToUseFromManyThreads() throws Exception {
    CallbackSigner signer = CallbackSigner.fromConfig(NEW_SECRET + "," + OLD_SECRET);
    long timestamp = 1700000000L;
    ExecutorService pool = Executors.newFixedThreadPool(8);
    try {
      List<Future<Boolean>> results = new ArrayList<>();
      for (int i = 0; i < 400; i++) {
        String id = "msg_" + (i % 20);
        String body = BODY + i % 20;
        results.add(pool.submit(() -> {
          String expected = new Webhook(NEW_SECRET).sign(id, timestamp, body) + " "
              + new Webhook(OLD_SECRET).sign(id, timestamp, body);
          String actual =
              signer.headers(id, timestamp, body.getBytes(StandardCharsets.UTF_8)).get("webhook-signature");
          return expected.equals(actual);
        }));
      }
      for (Future<Boolean> result : results) {
        assertTrue(result.get());
      }
    } finally {
      pool.shutdownNow();
    }
  }

  private static void assertNoSecretLeaks(Throwable error, String... fragments) {
    for (Throwable t = error; t != null; t = t.getCause()) {
      String text = String.valueOf(t.getMessage());
      for (String fragment : fragments) {
        assertFalse(text.contains(fragment), "message leaks '" + fragment + "': " + text);
      }
    }
  }
}
