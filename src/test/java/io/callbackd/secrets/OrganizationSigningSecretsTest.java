package io.callbackd.secrets;

import com.standardwebhooks.Webhook;
import com.standardwebhooks.exceptions.WebhookVerificationException;
import io.callbackd.support.Await;
import io.callbackd.support.RunningCallbackd;
import io.callbackd.support.RunningCallbackd.Response;
import io.callbackd.support.TestPostgres;
import io.callbackd.support.TestReceiver;
import io.callbackd.webhook.CallbackSigner;
import io.callbackd.webhook.SecretsCipher;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Signing secrets per organization, end to end: a tenant's callbacks verify (with the reference Standard Webhooks
 * library) with its own secrets only, never with another tenant's or the deployment's; a run of an organization
 * without secrets is signed with the deployment's; rotation; changes reach the dispatchers through NOTIFY; secrets are
 * stored only encrypted, refused without a key, and re-encrypted at start-up when the key is rotated.
 */
@ExtendWith(VertxExtension.class)
class OrganizationSigningSecretsTest {

  private static final Duration WAIT = Duration.ofSeconds(30);
  private static final String TOKEN = "secrets-test-token-7c1e";
  private static final String KEY = key();
  private static final String GLOBAL = secret();

  private static RunningCallbackd callbackd;
  private static TestReceiver receiver;

  @BeforeAll
  static void start(Vertx vertx) {
    receiver = new TestReceiver(vertx);
    callbackd = new RunningCallbackd(vertx, new JsonObject().put("api_tokens", TOKEN).put("signing_secrets", GLOBAL)
      .put("secrets_key", KEY)).withToken(TOKEN);
  }

  @AfterAll
  static void stop() {
    if (callbackd != null) {
      callbackd.close();
    }
    if (receiver != null) {
      receiver.close();
    }
  }

  // ------------------------------------------------------------------ tenants

  @Test
  void eachTenantsCallbacksVerifyWithItsOwnSecretsOnly() {
    String a = secret();
    String b = secret();
    assertEquals(200, put(callbackd, "org-alpha", a).status());
    assertEquals(200, put(callbackd, "org-beta", b).status());

    TestReceiver.Received alpha = deliver(callbackd, "org-alpha", "/alpha");
    TestReceiver.Received beta = deliver(callbackd, "org-beta", "/beta");
    TestReceiver.Received none = deliver(callbackd, "org-without-secrets", "/none");
    TestReceiver.Received noOrg = deliver(callbackd, null, "/no-org");

    assertVerifies(alpha, a);
    assertRefused(alpha, b, "another tenant's secret");
    assertRefused(alpha, GLOBAL, "the deployment's secret");
    assertEquals(1, alpha.headers().get("webhook-signature").split(" ").length);

    assertVerifies(beta, b);
    assertRefused(beta, a, "another tenant's secret");
    assertRefused(beta, GLOBAL, "the deployment's secret");

    // A run whose organization has no secrets, or that has no organization, is signed with CALLBACKD_SIGNING_SECRETS.
    assertVerifies(none, GLOBAL);
    assertRefused(none, a, "a tenant's secret");
    assertVerifies(noOrg, GLOBAL);
    assertRefused(noOrg, b, "a tenant's secret");
  }

  @Test
  void rotationSignsWithBothSecretsKeepsAddedTimesAndDeleteFallsBackToTheDeploymentsSecrets() {
    String org = "org-rotating";
    String old = secret();
    String fresh = secret();
    Response first = put(callbackd, org, old);
    assertEquals(200, first.status(), String.valueOf(first.json()));
    JsonObject oldEntry = first.json().getJsonArray("secrets").getJsonObject(0);
    assertEquals(fingerprint(old), oldEntry.getString("fingerprint"));
    TestReceiver.Received before = deliver(callbackd, org, "/rot-1");
    assertVerifies(before, old);
    assertRefused(before, fresh, "the secret not yet set");

    // Rotate: the new secret first, the old one kept.
    Response rotated = put(callbackd, org, fresh, old);
    assertEquals(200, rotated.status());
    Response listed = callbackd.get("/v1/organizations/" + org + "/signing-secrets");
    assertEquals(200, listed.status());
    assertEquals(rotated.json(), listed.json());
    JsonArray entries = listed.json().getJsonArray("secrets");
    assertEquals(2, entries.size());
    assertEquals(fingerprint(fresh), entries.getJsonObject(0).getString("fingerprint"));
    assertEquals(fingerprint(old), entries.getJsonObject(1).getString("fingerprint"));
    assertEquals(oldEntry.getString("added_at"), entries.getJsonObject(1).getString("added_at"),
      "a secret kept across a PUT keeps its added time");
    assertFalse(listed.json().encode().contains(old.substring(6)), "the secret itself is never answered");
    assertFalse(listed.json().encode().contains(fresh.substring(6)), "the secret itself is never answered");

    TestReceiver.Received during = deliver(callbackd, org, "/rot-2");
    assertEquals(2, during.headers().get("webhook-signature").split(" ").length);
    assertVerifies(during, fresh);
    assertVerifies(during, old);
    assertRefused(during, GLOBAL, "the deployment's secret");

    // The old one removed: only the new one verifies.
    assertEquals(200, put(callbackd, org, fresh).status());
    TestReceiver.Received after = deliver(callbackd, org, "/rot-3");
    assertVerifies(after, fresh);
    assertRefused(after, old, "the secret rotated away");

    // Deleted: the organization's callbacks go back to the deployment's secrets.
    assertEquals(204, callbackd.call("DELETE", "/v1/organizations/" + org + "/signing-secrets", null).status());
    Response gone = callbackd.get("/v1/organizations/" + org + "/signing-secrets");
    assertEquals(404, gone.status());
    assertEquals("organization_id", gone.json().getString("field"));
    assertEquals(404, callbackd.call("DELETE", "/v1/organizations/" + org + "/signing-secrets", null).status());
    TestReceiver.Received deleted = deliver(callbackd, org, "/rot-4");
    assertVerifies(deleted, GLOBAL);
    assertRefused(deleted, fresh, "the deleted secret");
  }

  /**
   * Two replacements of one organization's list at once leave one list, not the union of both. The first is played
   * by a transaction left open that does what a replacement does (its lock, its delete and insert); the second,
   * through the API, waits for it and then replaces what it committed.
   */
  @Test
  void aReplacementWaitingForAnotherReplacesWhatThatOneCommitted() throws Exception {
    String org = "org-racing";
    assertEquals(200, put(callbackd, org, secret()).status());
    String second = secret();
    try (java.sql.Connection first = java.sql.DriverManager.getConnection(TestPostgres.jdbcUrl(callbackd.pgUrl));
         java.sql.Statement st = first.createStatement()) {
      first.setAutoCommit(false);
      st.execute("SELECT pg_advisory_xact_lock('callbackd.signing_secrets'::regclass::oid::integer,"
        + " hashtext('" + org + "'))");
      st.execute("INSERT INTO callbackd.signing_secrets (organization_id, fingerprint, position, key_id, nonce,"
        + " ciphertext) SELECT organization_id, 'fp-first', position, key_id, nonce, ciphertext"
        + " FROM callbackd.signing_secrets WHERE organization_id = '" + org + "'");
      st.execute("DELETE FROM callbackd.signing_secrets WHERE organization_id = '" + org + "'"
        + " AND fingerprint <> 'fp-first'");
      java.util.concurrent.CompletableFuture<Response> replaced = java.util.concurrent.CompletableFuture.supplyAsync(
        () -> put(callbackd, org, second));
      Await.until("the second replacement waits for the first", Duration.ofSeconds(30), () -> callbackd.sql.count(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
          + " AND backend_type = 'client backend'") >= 1);
      first.commit();
      assertEquals(200, replaced.get(30, java.util.concurrent.TimeUnit.SECONDS).status());
    }
    JsonArray stored = callbackd.get("/v1/organizations/" + org + "/signing-secrets").json().getJsonArray("secrets");
    assertEquals(1, stored.size(), stored.encode());
    assertEquals(fingerprint(second), stored.getJsonObject(0).getString("fingerprint"));
  }

  @Test
  void aChangeMadeThroughAnotherReplicaReachesTheDispatchersThroughNotify() {
    String org = "org-elsewhere";
    String old = secret();
    String fresh = secret();
    assertEquals(200, put(callbackd, org, old).status());
    // The dispatcher has now read and kept the organization's secrets.
    assertVerifies(deliver(callbackd, org, "/elsewhere-1"), old);

    // Another replica's store writes the new list: nothing is published on this replica's event bus, only the
    // NOTIFY of the changing transaction reaches it.
    SecretsCipher cipher = SecretsCipher.fromConfig(KEY, null);
    byte[] key = CallbackSigner.organizationKey(fresh);
    SigningSecretStore otherReplica = new SigningSecretStore(callbackd.app().pool());
    Await.result(otherReplica.replace(org, List.of(new SigningSecretStore.NewSecret(CallbackSigner.fingerprint(key),
      cipher.seal(org, key)))), WAIT);
    long changedAt = System.nanoTime();

    // Well within the cache's time limit (10 s), the next callback is signed with the new secret.
    TestReceiver.Received next = deliver(callbackd, org, "/elsewhere-2");
    Duration took = Duration.ofNanos(System.nanoTime() - changedAt);
    assertVerifies(next, fresh);
    assertRefused(next, old, "the replaced secret");
    assertTrue(took.compareTo(OrganizationSigners.TTL) < 0, "the callback took " + took
      + ", too long to tell the NOTIFY from the cache's time limit");
  }

  @Test
  void aPlatformsOwnSqlAndARedeliveryAreSignedWithTheOrganizationsCurrentSecrets() {
    String org = "org-platform";
    String first = secret();
    String second = secret();
    assertEquals(200, put(callbackd, org, first).status());
    // The platform finishes a run in plain SQL: the queued callback carries the run's organization.
    callbackd.sql.update("INSERT INTO runs (id, status, agent_id, organization_id, callback_url) VALUES "
      + "('run-platform-sql', 'completed', 'agent-1', ?, ?)", org, receiver.url("/platform-sql"));
    Await.until("platform run delivered", WAIT, () -> "delivered".equals(callbackd.callbackState("run-platform-sql")));
    TestReceiver.Received sent = receiver.received("/platform-sql").get(0);
    assertVerifies(sent, first);
    assertRefused(sent, GLOBAL, "the deployment's secret");

    // Rotated away, then redelivered: the same message, signed with what the organization has now.
    assertEquals(200, put(callbackd, org, second).status());
    assertEquals(202, callbackd.call("POST", "/v1/runs/run-platform-sql/callback/redeliver", null).status());
    Await.until("redelivered", WAIT, () -> receiver.count("/platform-sql") == 2
      && "delivered".equals(callbackd.callbackState("run-platform-sql")));
    TestReceiver.Received again = receiver.received("/platform-sql").get(1);
    assertEquals(sent.headers().get("webhook-id"), again.headers().get("webhook-id"));
    assertVerifies(again, second);
    assertRefused(again, first, "the secret rotated away before the redelivery");
  }

  @Test
  void aCallbackSentAgainAfterThePlatformDeletedItsRunIsSignedWithItsOrganizationsSecrets() {
    String org = "org-deleted-run";
    String s = secret();
    assertEquals(200, put(callbackd, org, s).status());
    TestReceiver.Received sent = deliver(callbackd, org, "/deleted-run");
    String id = new JsonObject(sent.body()).getString("run_id");
    // From when this one finished: the replay takes no other test's callback to the same receiver.
    String since = ((java.sql.Timestamp) callbackd.sql.one("SELECT finished_at FROM callbackd.history"
      + " WHERE run_id = ?", id).get("finished_at")).toInstant().toString();
    // The platform deletes the run's row (its own retention, a user's request); history keeps the callback.
    assertEquals(1, callbackd.sql.update("DELETE FROM runs WHERE id = ?", id));
    Response replay = callbackd.call("POST", "/v1/callbacks/redeliver", new JsonObject().put("state", "delivered")
      .put("destination", "http://127.0.0.1:" + receiver.port()).put("since", since).encode());
    assertEquals(202, replay.status(), String.valueOf(replay.json()));
    assertEquals(1, replay.json().getInteger("redelivered"), replay.json().encode());
    Await.until("sent again", WAIT, () -> receiver.count("/deleted-run") == 2);
    TestReceiver.Received again = receiver.received("/deleted-run").get(1);
    assertEquals(sent.headers().get("webhook-id"), again.headers().get("webhook-id"));
    assertEquals(sent.body(), again.body(), "the same message");
    assertVerifies(again, s);
    assertRefused(again, GLOBAL, "the deployment's secret");
  }

  @Test
  void aCallbackWhoseSecretsCannotBeReadIsNotSentAndCountsNothingAgainstItsReceiver() {
    String org = "org-unreadable";
    // A stored secret that no key opens (sealed under a key since taken out of CALLBACKD_SECRETS_KEY, say).
    callbackd.sql.update("INSERT INTO callbackd.signing_secrets (organization_id, fingerprint, position, key_id,"
      + " nonce, ciphertext) VALUES (?, 'ffffffffffffffff', 1, 'key-gone', decode('000000000000000000000000', 'hex'),"
      + " decode('00112233445566778899aabbccddeeff0011223344556677', 'hex'))", org);
    double before = localErrors();
    Response created = callbackd.post("/v1/runs", new JsonObject().put("agent_id", "agent-1").put("status", "running")
      .put("organization_id", org).put("callback_url", receiver.url("/unreadable")));
    assertEquals(201, created.status(), String.valueOf(created.json()));
    String id = created.json().getString("id");
    assertEquals(200, callbackd.patch("/v1/runs/" + id, new JsonObject().put("status", "completed")).status());
    Await.until("failed on its schedule", WAIT, () -> "failed".equals(callbackd.callbackState(id)));
    assertEquals(0, receiver.count("/unreadable"), "never sent unsigned or signed with other secrets");
    String error = (String) callbackd.sql.one("SELECT last_error FROM callbackd.deliveries WHERE run_id = ?", id)
      .get("last_error");
    assertTrue(error.contains("not sent: signing secrets of organization " + org), error);
    assertTrue(localErrors() > before, "counted as callbackd's own failures");
    // The failure was callbackd's: the receiver's breaker counted none of it, and other tenants' callbacks go on.
    Map<String, Object> destination = callbackd.sql.one("SELECT breaker, consecutive_failures FROM"
      + " callbackd.destinations WHERE destination = ?", "http://127.0.0.1:" + receiver.port());
    assertEquals("closed", destination.get("breaker"));
    assertEquals(0, destination.get("consecutive_failures"));
    assertVerifies(deliver(callbackd, null, "/after-unreadable"), GLOBAL);
  }

  private static double localErrors() {
    return io.callbackd.metrics.PrometheusText.value(callbackd.text("/metrics"), "callbackd_attempts_total",
      "result=\"local_error\"");
  }

  @Test
  void withoutANotificationACachedListIsUsedAtMostItsTimeLimit(Vertx vertx) {
    String org = "org-cached";
    String old = secret();
    String fresh = secret();
    assertEquals(200, put(callbackd, org, old).status());
    SecretsCipher cipher = SecretsCipher.fromConfig(KEY, null);
    SigningSecretStore store = new SigningSecretStore(callbackd.app().pool());
    CallbackSigner deployment = CallbackSigner.fromConfig(GLOBAL);
    Duration ttl = Duration.ofMillis(300);
    // A dispatcher's cache that hears of no change: only its time limit brings the new list in.
    OrganizationSigners signers = new OrganizationSigners(store, cipher, deployment, ttl);
    io.vertx.core.Context context = vertx.getOrCreateContext();
    java.util.function.Supplier<String> signature = () -> Await.result(io.vertx.core.Future.<CallbackSigner>future(
      p -> context.runOnContext(v -> signers.signerFor(org).onComplete(p))), WAIT)
      .headers("msg_cached", 1_700_000_000L, new byte[] {'{', '}'}).get(CallbackSigner.HEADER_SIGNATURE);
    String withOld = signature.get();
    assertEquals(CallbackSigner.fromConfig(old).headers("msg_cached", 1_700_000_000L, new byte[] {'{', '}'})
      .get(CallbackSigner.HEADER_SIGNATURE), withOld);
    byte[] key = CallbackSigner.organizationKey(fresh);
    Await.result(store.replace(org, List.of(new SigningSecretStore.NewSecret(CallbackSigner.fingerprint(key),
      cipher.seal(org, key)))), WAIT);
    long changedAt = System.nanoTime();
    String expected = CallbackSigner.fromConfig(fresh).headers("msg_cached", 1_700_000_000L, new byte[] {'{', '}'})
      .get(CallbackSigner.HEADER_SIGNATURE);
    Await.until("the new list after the time limit", WAIT, () -> expected.equals(signature.get()));
    assertTrue(System.nanoTime() - changedAt < ttl.toNanos() + Duration.ofSeconds(5).toNanos());
    // An organization without secrets, and no organization, get the deployment's signer.
    assertEquals(deployment, Await.result(io.vertx.core.Future.<CallbackSigner>future(
      p -> context.runOnContext(v -> signers.signerFor("org-nothing").onComplete(p))), WAIT));
    assertEquals(deployment, Await.result(signers.signerFor(null), WAIT));
  }

  // ------------------------------------------------------------------ at rest

  @Test
  void secretsAreStoredOnlyEncryptedWithTheOrganizationAsAssociatedData() {
    String org = "org-at-rest";
    String s = secret();
    byte[] key = Base64.getDecoder().decode(s.substring(6));
    assertEquals(200, put(callbackd, org, s).status());

    Map<String, Object> row = callbackd.sql.one("SELECT key_id, nonce, ciphertext, fingerprint FROM "
      + "callbackd.signing_secrets WHERE organization_id = ?", org);
    byte[] nonce = (byte[]) row.get("nonce");
    byte[] ciphertext = (byte[]) row.get("ciphertext");
    assertEquals(12, nonce.length);
    assertEquals(key.length + 16, ciphertext.length, "the key and GCM's 16-byte tag");
    assertFalse(indexOf(ciphertext, key), "the stored bytes do not hold the key");
    String everything = (String) callbackd.sql.one("SELECT string_agg(t::text, ' ') AS dump FROM "
      + "callbackd.signing_secrets t").get("dump");
    assertFalse(everything.contains(s.substring(6)), "no base64 of the secret in the table");
    assertFalse(everything.contains(HexFormat.of().formatHex(key)), "no hex of the key in the table");

    SecretsCipher cipher = SecretsCipher.fromConfig(KEY, null);
    SecretsCipher.Sealed sealed = new SecretsCipher.Sealed((String) row.get("key_id"), nonce, ciphertext);
    assertArrayEquals(key, cipher.open(org, sealed));
    assertThrows(IllegalArgumentException.class, () -> cipher.open("org-other", sealed),
      "bound to its organization: copied onto another's row it does not decrypt");
    assertThrows(IllegalArgumentException.class, () -> SecretsCipher.fromConfig(key(), null).open(org, sealed));

    // A second PUT of the same secret encrypts it again with a fresh nonce.
    assertEquals(200, put(callbackd, org, s).status());
    byte[] nonce2 = (byte[]) callbackd.sql.one("SELECT nonce FROM callbackd.signing_secrets WHERE "
      + "organization_id = ?", org).get("nonce");
    assertFalse(java.util.Arrays.equals(nonce, nonce2));
  }

  @Test
  void withoutAKeySecretsAreRefusedAndNothingIsStored(Vertx vertx) {
    try (RunningCallbackd keyless = new RunningCallbackd(vertx, new JsonObject().put("signing_secrets", GLOBAL))) {
      Response refused = put(keyless, "org-keyless", secret());
      assertEquals(409, refused.status());
      assertTrue(refused.json().getString("error").contains("CALLBACKD_SECRETS_KEY"), refused.json().encode());
      assertEquals("secrets", refused.json().getString("field"));
      assertEquals(0, keyless.sql.count("SELECT count(*) FROM callbackd.signing_secrets"));
      assertEquals(404, keyless.get("/v1/organizations/org-keyless/signing-secrets").status());
      // Its runs are signed with the deployment's secrets.
      assertVerifies(deliver(keyless, "org-keyless", "/keyless"), GLOBAL);
    }
  }

  @Test
  void refusalsNameTheFieldAndNeverQuoteASecret() {
    String org = "org-refusals";
    String notBase64 = "whsec_not*base64*at*all";
    String tooShort = "whsec_" + Base64.getEncoder().encodeToString(new byte[16]);
    String noPrefix = Base64.getEncoder().encodeToString(new byte[32]);
    for (String bad : List.of(notBase64, tooShort, noPrefix)) {
      Response r = put(callbackd, org, secret(), bad);
      assertEquals(400, r.status(), bad);
      assertEquals("secrets", r.json().getString("field"));
      assertTrue(r.json().getString("error").contains("entry 2"), r.json().getString("error"));
      assertFalse(r.json().getString("error").contains(bad.length() > 8 ? bad.substring(6) : bad), "quoted");
    }
    String twice = secret();
    Response repeated = put(callbackd, org, twice, twice);
    assertEquals(400, repeated.status());
    assertTrue(repeated.json().getString("error").contains("repeats"));

    List<String> eleven = new ArrayList<>();
    for (int i = 0; i < 11; i++) {
      eleven.add(secret());
    }
    assertEquals(400, put(callbackd, org, eleven.toArray(new String[0])).status());
    assertEquals(400, put(callbackd, org).status(), "an empty list");
    Response unknownField = callbackd.call("PUT", "/v1/organizations/" + org + "/signing-secrets",
      new JsonObject().put("secrets", new JsonArray().add(secret())).put("colour", "red").encode());
    assertEquals(400, unknownField.status());
    assertEquals("colour", unknownField.json().getString("field"));
    assertEquals(0, callbackd.sql.count("SELECT count(*) FROM callbackd.signing_secrets WHERE organization_id = ?",
      org), "nothing stored by a refused request");

    Response unknown = callbackd.get("/v1/organizations/org-never-seen/signing-secrets");
    assertEquals(404, unknown.status());
    assertEquals("organization_id", unknown.json().getString("field"));

    // Operator routes: the API token is needed.
    callbackd.withToken(null);
    try {
      assertEquals(401, callbackd.get("/v1/organizations/org-alpha/signing-secrets").status());
      assertEquals(401, put(callbackd, org, secret()).status());
    } finally {
      callbackd.withToken(TOKEN);
    }
  }

  // ------------------------------------------------------------------ key rotation

  @Test
  void aNewKeyReEncryptsEverySecretAtStartUpAndAnUnknownKeyStopsStartUp(Vertx vertx) {
    String pgUrl = TestPostgres.newDatabase();
    String oldKey = key();
    String newKey = key();
    String s = secret();
    String org = "org-key-rotation";
    try (RunningCallbackd before = new RunningCallbackd(vertx, pgUrl, new JsonObject().put("secrets_key", oldKey)
      .put("signing_secrets", GLOBAL))) {
      assertEquals(200, put(before, org, s).status());
    }
    String oldId = SecretsCipher.keyId(Base64.getDecoder().decode(oldKey));
    String newId = SecretsCipher.keyId(Base64.getDecoder().decode(newKey));
    try (RunningCallbackd after = new RunningCallbackd(vertx, pgUrl, new JsonObject().put("secrets_key", newKey)
      .put("secrets_key_previous", oldKey).put("signing_secrets", GLOBAL))) {
      assertEquals(List.of(newId), after.sql.query("SELECT DISTINCT key_id FROM callbackd.signing_secrets").stream()
        .map(r -> r.get("key_id")).toList(), "re-encrypted under the new key at start-up");
      assertVerifies(deliver(after, org, "/key-rotation"), s);
    }
    assertNotEquals(oldId, newId);
    // The old key alone no longer opens them: start-up says which key is missing instead of signing wrongly.
    AssertionError refused = assertThrows(AssertionError.class, () -> new RunningCallbackd(vertx, pgUrl,
      new JsonObject().put("secrets_key", oldKey)));
    assertTrue(refused.getMessage().contains("CALLBACKD_SECRETS_KEY"), refused.getMessage());
    AssertionError keyless = assertThrows(AssertionError.class, () -> new RunningCallbackd(vertx, pgUrl,
      new JsonObject()));
    assertTrue(keyless.getMessage().contains("CALLBACKD_SECRETS_KEY is not set"), keyless.getMessage());
    // With the new key alone (the previous one retired), it starts and signs as before.
    try (RunningCallbackd retired = new RunningCallbackd(vertx, pgUrl, new JsonObject().put("secrets_key", newKey))) {
      assertVerifies(deliver(retired, org, "/key-retired"), s);
    }
  }

  // ------------------------------------------------------------------ helpers

  private static String key() {
    byte[] k = new byte[32];
    new SecureRandom().nextBytes(k);
    return Base64.getEncoder().encodeToString(k);
  }

  private static String secret() {
    byte[] k = new byte[32];
    new SecureRandom().nextBytes(k);
    return "whsec_" + Base64.getEncoder().encodeToString(k);
  }

  private static String fingerprint(String secret) {
    return CallbackSigner.fingerprint(Base64.getDecoder().decode(secret.substring(6)));
  }

  private static Response put(RunningCallbackd app, String org, String... secrets) {
    JsonArray list = new JsonArray();
    for (String s : secrets) {
      list.add(s);
    }
    return app.call("PUT", "/v1/organizations/" + org + "/signing-secrets",
      new JsonObject().put("secrets", list).encode());
  }

  /** Creates a run of {@code org} (null: none), completes it, and returns what the receiver got. */
  private static TestReceiver.Received deliver(RunningCallbackd app, String org, String path) {
    JsonObject run = new JsonObject().put("agent_id", "agent-1").put("status", "running")
      .put("callback_url", receiver.url(path));
    if (org != null) {
      run.put("organization_id", org);
    }
    Response created = app.post("/v1/runs", run);
    assertEquals(201, created.status(), String.valueOf(created.json()));
    String id = created.json().getString("id");
    assertEquals(200, app.patch("/v1/runs/" + id, new JsonObject().put("status", "completed")).status());
    Await.until("callback of " + id + " delivered", WAIT, () -> "delivered".equals(app.callbackState(id)));
    List<TestReceiver.Received> got = receiver.received(path);
    assertEquals(1, got.size(), path);
    return got.get(0);
  }

  private static Map<String, List<String>> headers(TestReceiver.Received r) {
    Map<String, List<String>> h = new HashMap<>();
    r.headers().forEach(e -> h.computeIfAbsent(e.getKey().toLowerCase(), k -> new ArrayList<>()).add(e.getValue()));
    return h;
  }

  private static void assertVerifies(TestReceiver.Received r, String secret) {
    assertDoesNotThrow(() -> new Webhook(secret).verify(r.body().toString(), headers(r)),
      "the callback to " + r.path() + " verifies with the expected secret");
  }

  private static void assertRefused(TestReceiver.Received r, String secret, String whose) {
    assertThrows(WebhookVerificationException.class,
      () -> new Webhook(secret).verify(r.body().toString(), headers(r)),
      "the callback to " + r.path() + " must not verify with " + whose);
  }

  private static boolean indexOf(byte[] haystack, byte[] needle) {
    outer:
    for (int i = 0; i + needle.length <= haystack.length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (haystack[i + j] != needle[j]) {
          continue outer;
        }
      }
      return true;
    }
    return false;
  }
}
