package io.callbackd.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class CallbackdConfigTest {

  private static JsonObject defaults() {
    try {
      return new JsonObject(Files.readString(Path.of(CallbackdConfig.DEFAULTS_PATH)));
    } catch (IOException e) {
      throw new AssertionError("cannot read " + CallbackdConfig.DEFAULTS_PATH + " from " + Path.of("").toAbsolutePath(), e);
    }
  }

  private static CallbackdConfig with(String key, Object value) {
    return CallbackdConfig.fromMerged(defaults().put(key, value));
  }

  private static ConfigException refused(String key, Object value) {
    return assertThrows(ConfigException.class, () -> with(key, value));
  }

  private static void assertNamesKeyAndEnv(ConfigException e, String key) {
    String env = "CALLBACKD_" + key.toUpperCase();
    assertTrue(e.getMessage().contains(key), "message should name " + key + ": " + e.getMessage());
    assertTrue(e.getMessage().contains(env), "message should name " + env + ": " + e.getMessage());
  }

  // ---- defaults ----

  @Test
  void defaultsParse() {
    CallbackdConfig c = CallbackdConfig.fromMerged(defaults());
    assertEquals("0.0.0.0", c.httpHost);
    assertEquals(8080, c.httpPort);
    assertEquals("", c.pgUrl);
    assertTrue(c.embeddedDatabase());
    assertEquals(16, c.pgPoolSize);
    assertEquals(Path.of("data"), c.dataDir);
    assertEquals("nobody", c.embeddedPgUser);
    assertTrue(c.embeddedPgUserNamespace);
    assertEquals(Duration.ofSeconds(10), c.requestTimeout);
    assertEquals(0.2, c.retryJitter);
    assertEquals(5, c.breakerFailures);
    assertEquals(Duration.ofSeconds(30), c.breakerReset);
    assertEquals(Duration.ofMinutes(10), c.breakerIdleEviction);
    assertEquals(Duration.ofDays(30), c.retention);
    assertEquals(Duration.ofHours(1), c.purgeInterval);
    assertEquals(512, c.maxInFlight);
    assertEquals(32, c.maxInFlightPerDestination);
    assertEquals(1, c.dispatcherInstances);
    assertEquals(Duration.ofMillis(10), c.ingestLinger);
    assertEquals(Duration.ofMillis(50), c.outcomeLinger);
    assertEquals(128, c.claimBatch);
    assertEquals(Duration.ofMinutes(2), c.lease);
    assertEquals(Duration.ofSeconds(1), c.pollInterval);
    assertEquals(Duration.ofSeconds(20), c.shutdownGrace);
    assertEquals(1_048_576, c.maxBody);
  }

  @Test
  void eventLoopsAreOnePerProcessorUnlessSet() {
    CallbackdConfig c = CallbackdConfig.fromMerged(defaults());
    assertEquals(0, c.eventLoops);
    assertEquals(Runtime.getRuntime().availableProcessors(), c.eventLoopThreads());
    assertEquals(3, with("event_loops", 3).eventLoopThreads());
    assertEquals(1, with("event_loops", "1").eventLoopThreads());
    assertNamesKeyAndEnv(refused("event_loops", -1), "event_loops");
    assertNamesKeyAndEnv(refused("event_loops", "many"), "event_loops");
  }

  @Test
  void lingersAreBatchingWindowsOfAtMostASecond() {
    Map<String, Function<CallbackdConfig, Duration>> lingers = Map.of(
      "ingest_linger", c -> c.ingestLinger, "outcome_linger", c -> c.outcomeLinger);
    lingers.forEach((key, linger) -> {
      assertEquals(Duration.ZERO, linger.apply(with(key, "0ms")), key);
      assertEquals(Duration.ofMillis(5), linger.apply(with(key, "5ms")), key);
      assertEquals(Duration.ofSeconds(1), linger.apply(with(key, "1s")), key);
      for (String tooLong : List.of("1500ms", "2s")) {
        ConfigException e = refused(key, tooLong);
        assertNamesKeyAndEnv(e, key);
        assertTrue(e.getMessage().contains("at most 1s"), e.getMessage());
      }
      assertNamesKeyAndEnv(refused(key, "soon"), key);
      assertNamesKeyAndEnv(refused(key, "-5ms"), key);
    });
  }

  @Test
  void defaultRetryScheduleIsEightAttemptsFromZeroToTenHours() {
    CallbackdConfig c = CallbackdConfig.fromMerged(defaults());
    assertEquals(List.of(Duration.ZERO, Duration.ofSeconds(5), Duration.ofMinutes(5), Duration.ofMinutes(30),
      Duration.ofHours(2), Duration.ofHours(5), Duration.ofHours(10), Duration.ofHours(10)), c.retryDelays);
    assertEquals(8, c.maxAttempts());
  }

  @Test
  void effectiveListsEveryKeyOfTheDefaultsWithItsPlainValue() {
    JsonObject defaults = defaults();
    JsonObject effective = CallbackdConfig.fromMerged(defaults).effective();
    assertEquals(defaults.fieldNames(), effective.fieldNames());
    for (String key : List.of("http_host", "http_port", "request_timeout", "retry_delays", "retry_jitter",
      "breaker_failures", "breaker_reset", "lease", "max_body")) {
      assertEquals(defaults.getValue(key), effective.getValue(key), key);
    }
  }

  // ---- environment overrides ----

  @Test
  void envStyleStringOverridesHttpPort() {
    JsonObject merged = defaults().put("CALLBACKD_HTTP_PORT", "9090");
    assertEquals(9090, CallbackdConfig.fromMerged(merged).httpPort);
  }

  @Test
  void envStyleKeyWinsWhicheverOrderItComesIn() {
    JsonObject merged = new JsonObject().put("CALLBACKD_HTTP_PORT", "9090");
    merged.mergeIn(defaults());
    assertEquals(9090, CallbackdConfig.fromMerged(merged).httpPort);
  }

  @Test
  void envStyleOverridesOfDurationsListsAndFractionsAreRead() {
    JsonObject merged = defaults()
      .put("CALLBACKD_RETRY_DELAYS", "1s,2s,3s")
      .put("CALLBACKD_RETRY_JITTER", "0.1")
      .put("CALLBACKD_REQUEST_TIMEOUT", "2s")
      .put("CALLBACKD_PG_URL", "postgresql://cb:pw@db:5432/callbackd");
    CallbackdConfig c = CallbackdConfig.fromMerged(merged);
    assertEquals(List.of(Duration.ofSeconds(1), Duration.ofSeconds(2), Duration.ofSeconds(3)), c.retryDelays);
    assertEquals(0.1, c.retryJitter);
    assertEquals(Duration.ofSeconds(2), c.requestTimeout);
    assertFalse(c.embeddedDatabase());
  }

  @Test
  void unrelatedEnvironmentVariablesAreIgnored() {
    JsonObject merged = defaults().put("CALLBACKD_NO_SUCH_SETTING", "x").put("PATH", "/usr/bin").put("HOME", "/root");
    CallbackdConfig c = CallbackdConfig.fromMerged(merged);
    assertEquals(8080, c.httpPort);
    assertFalse(c.effective().containsKey("no_such_setting"));
    assertFalse(c.effective().containsKey("CALLBACKD_NO_SUCH_SETTING"));
  }

  @Test
  void badEnvOverrideIsRefusedNamingKeyAndEnv() {
    ConfigException e = assertThrows(ConfigException.class,
      () -> CallbackdConfig.fromMerged(defaults().put("CALLBACKD_HTTP_PORT", "abc")));
    assertNamesKeyAndEnv(e, "http_port");
  }

  // ---- bad values ----

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
    "http_port | abc",
    "http_port | 65536",
    "http_port | -1",
    "http_port | 80.5",
    "pg_pool_size | 0",
    "max_body | 10",
    "retry_delays | 5s,soon",
    "retry_delays | ''",
    "retry_jitter | 2",
    "retry_jitter | -0.1",
    "retry_jitter | lots",
    "request_timeout | 0s",
    "request_timeout | 10",
    "breaker_reset | thirty seconds",
    "breaker_failures | 0",
    "lease | 1.5m",
    "pg_url | mysql://x",
    "pg_url | postgresql://",
    "pg_url | not a url",
    "http_host | ''",
    "data_dir | '  '",
    "embedded_pg_user | ''",
    "embedded_pg_user_namespace | sometimes",
  })
  void badValuesAreRefusedNamingKeyAndEnvVar(String key, String value) {
    assertNamesKeyAndEnv(refused(key, value), key);
  }

  @Test
  void badNumericJsonValuesAreRefused() {
    assertNamesKeyAndEnv(refused("http_port", 80.5), "http_port");
    assertNamesKeyAndEnv(refused("retry_jitter", 2), "retry_jitter");
    assertNamesKeyAndEnv(refused("claim_batch", 10_001), "claim_batch");
  }

  @Test
  void moreThanAHundredAttemptsAreRefused() {
    String delays = String.join(",", java.util.Collections.nCopies(101, "1s"));
    ConfigException e = refused("retry_delays", delays);
    assertNamesKeyAndEnv(e, "retry_delays");
    assertEquals(100, with("retry_delays", String.join(",", java.util.Collections.nCopies(100, "1s"))).maxAttempts());
  }

  @Test
  void jitterBoundsAreInclusive() {
    assertEquals(0.0, with("retry_jitter", 0).retryJitter);
    assertEquals(1.0, with("retry_jitter", "1").retryJitter);
  }

  @Test
  void missingKeyIsRefusedNamingIt() {
    JsonObject merged = defaults();
    merged.remove("claim_batch");
    ConfigException e = assertThrows(ConfigException.class, () -> CallbackdConfig.fromMerged(merged));
    assertNamesKeyAndEnv(e, "claim_batch");
  }

  @Test
  void leaseShorterThanThreeRequestTimeoutsIsRefused() {
    JsonObject merged = defaults().put("request_timeout", "10s").put("lease", "29s");
    ConfigException e = assertThrows(ConfigException.class, () -> CallbackdConfig.fromMerged(merged));
    assertNamesKeyAndEnv(e, "lease");
    assertTrue(e.getMessage().contains("request_timeout"), e.getMessage());
    assertTrue(e.getMessage().contains("29s") && e.getMessage().contains("10s"), e.getMessage());
  }

  @Test
  void leaseOfExactlyThreeRequestTimeoutsIsAccepted() {
    CallbackdConfig c = CallbackdConfig.fromMerged(defaults().put("request_timeout", "10s").put("lease", "30s"));
    assertEquals(Duration.ofSeconds(30), c.lease);
  }

  @Test
  void longRequestTimeoutWithDefaultLeaseIsRefused() {
    ConfigException e = assertThrows(ConfigException.class,
      () -> CallbackdConfig.fromMerged(defaults().put("CALLBACKD_REQUEST_TIMEOUT", "1m")));
    assertNamesKeyAndEnv(e, "lease");
  }

  // ---- pg_url ----

  @Test
  void postgresAndPostgresqlSchemesAreAccepted() {
    assertEquals("postgres://u:p@db/x", with("pg_url", "postgres://u:p@db/x").pgUrl);
    assertEquals("postgresql://db:5432/x", with("pg_url", "postgresql://db:5432/x").pgUrl);
  }

  @Test
  void pgUrlPasswordIsRedactedInEffective() {
    CallbackdConfig c = with("pg_url", "postgresql://callbackd:s3cret@db.internal:5432/callbackd");
    assertEquals("postgresql://callbackd:s3cret@db.internal:5432/callbackd", c.pgUrl);
    String shown = c.effective().getString("pg_url");
    assertFalse(shown.contains("s3cret"), shown);
    assertEquals("postgresql://***@db.internal:5432/callbackd", shown);
  }

  @Test
  void pgUrlFromTheEnvironmentIsRedactedInEffectiveToo() {
    CallbackdConfig c = CallbackdConfig.fromMerged(
      defaults().put("CALLBACKD_PG_URL", "postgresql://callbackd:s3cret@db.internal/callbackd"));
    assertFalse(c.effective().encode().contains("s3cret"), c.effective().encode());
  }

  @Test
  void effectiveDoesNotChangeTheConfiguration() {
    CallbackdConfig c = with("pg_url", "postgresql://callbackd:s3cret@db.internal:5432/callbackd");
    c.effective().put("http_port", 1);
    assertEquals("postgresql://callbackd:s3cret@db.internal:5432/callbackd", c.pgUrl);
    assertEquals(8080, c.effective().getInteger("http_port"));
  }

  @Test
  void refusedPgUrlDoesNotEchoItsPassword() {
    ConfigException e = refused("pg_url", "mysql://root:s3cret@db/x");
    assertFalse(e.getMessage().contains("s3cret"), e.getMessage());
  }

  /**
   * BUG (reported, not fixed): PgConnectOptions.fromUri accepts the password as a query parameter
   * (postgresql://db/x?user=u&amp;password=...), but effective() only redacts user-info, so the start-up log shows it.
   */
  @Test
  void pgUrlPasswordGivenAsAQueryParameterIsRedactedInEffective() {
    CallbackdConfig c = with("pg_url", "postgresql://db.internal:5432/callbackd?user=callbackd&password=s3cret");
    assertFalse(c.effective().encode().contains("s3cret"), c.effective().encode());
  }

  /**
   * BUG (reported, not fixed): a duration whose number fits a long but overflows Duration (e.g. 9999999999999999d)
   * makes Duration.ofDays throw ArithmeticException, which Durations.parse lets through and CallbackdConfig does not
   * catch, so start-up stops with an ArithmeticException that names no key instead of a ConfigException.
   */
  @Test
  void overflowingDurationIsAConfigException() {
    assertNamesKeyAndEnv(refused("breaker_reset", "9999999999999999d"), "breaker_reset");
  }

  // ---- the key of organizations' signing secrets ----

  @Test
  void aMalformedSecretsKeyStopsStartUpNamingItWithoutQuotingIt() {
    String shortKey = java.util.Base64.getEncoder().encodeToString(new byte[16]);
    ConfigException e = refused("secrets_key", shortKey);
    assertNamesKeyAndEnv(e, "secrets_key");
    assertTrue(e.getMessage().contains("32 bytes"), e.getMessage());
    assertFalse(e.getMessage().contains(shortKey), e.getMessage());
    assertNamesKeyAndEnv(refused("secrets_key", "not base64!"), "secrets_key");
    assertNamesKeyAndEnv(refused("secrets_key_previous", shortKey), "secrets_key_previous");
  }

  @Test
  void aPreviousSecretsKeyNeedsACurrentOneAndNeitherIsLogged() {
    String key = java.util.Base64.getEncoder().encodeToString(new byte[32]);
    assertNamesKeyAndEnv(refused("secrets_key_previous", key), "secrets_key_previous");
    CallbackdConfig c = CallbackdConfig.fromMerged(defaults().put("secrets_key", key).put("secrets_key_previous",
      java.util.Base64.getEncoder().encodeToString(new byte[] {
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30,
        31, 32})));
    assertEquals(key, c.secretsKey);
    assertFalse(c.effective().encode().contains(key), c.effective().encode());
    assertFalse(c.effective().encode().contains(c.secretsKeyPrevious), c.effective().encode());
    assertEquals("", CallbackdConfig.fromMerged(defaults()).secretsKey);
  }

  // ---- dns_servers ----

  @Test
  void dnsServersAreAddressesWithOptionalPorts() {
    assertEquals(List.of(), with("dns_servers", "").dnsServers);
    CallbackdConfig c = CallbackdConfig.fromMerged(defaults().put("CALLBACKD_DNS_SERVERS",
      "10.0.0.2, 10.0.0.3:5353,[fd00::53]:5300,fd00::54"));
    assertEquals(List.of("10.0.0.2:53", "10.0.0.3:5353", "[fd00:0:0:0:0:0:0:53]:5300", "[fd00:0:0:0:0:0:0:54]:53"),
      c.dnsServers.stream().map(a -> a.getAddress() instanceof java.net.Inet6Address
        ? "[" + a.getAddress().getHostAddress() + "]:" + a.getPort()
        : a.getAddress().getHostAddress() + ":" + a.getPort()).toList());
  }

  @Test
  void dnsServersThatAreNotAddressesAreRefused() {
    // A server named by a host name would need a resolver itself; a bad port is a typo.
    for (String bad : List.of("dns.example.com", "10.0.0.2:0", "10.0.0.2:70000", "10.0.0.2:x", "[fd00::53", "1.2.3")) {
      ConfigException e = refused("dns_servers", bad);
      assertNamesKeyAndEnv(e, "dns_servers");
      assertTrue(e.getMessage().contains(bad), e.getMessage());
    }
  }
}
