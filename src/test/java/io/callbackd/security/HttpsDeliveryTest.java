package io.callbackd.security;

import io.callbackd.support.Await;
import io.callbackd.support.CallbackdProcess;
import io.callbackd.support.Sql;
import io.callbackd.support.TestPostgres;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.net.PfxOptions;
import io.vertx.core.net.SelfSignedCertificate;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A callback over HTTPS to a receiver whose certificate is issued for its host name, trusted the way the README
 * says to trust a private CA (a trust store given to the JVM): it is delivered, over TLS, with the name in Host and
 * SNI although the connection goes to the vetted IP address.
 */
@ExtendWith(VertxExtension.class)
class HttpsDeliveryTest {

  private static final Duration WAIT = Duration.ofSeconds(60);

  @Test
  void aReceiverWithATrustedCertificateGetsItsCallbackOverTls(Vertx vertx) throws Exception {
    SelfSignedCertificate cert = SelfSignedCertificate.create("localhost");
    Path trustStore = Files.createTempFile("callbackd-trust-", ".p12");
    KeyStore store = KeyStore.getInstance("PKCS12");
    store.load(null, null);
    try (InputStream in = Files.newInputStream(Path.of(cert.certificatePath()))) {
      Certificate certificate = CertificateFactory.getInstance("X.509").generateCertificate(in);
      store.setCertificateEntry("receiver", certificate);
    }
    try (OutputStream out = Files.newOutputStream(trustStore)) {
      store.store(out, "changeit".toCharArray());
    }

    List<String> seen = new CopyOnWriteArrayList<>();
    // SNI on, so that the server sees the name the client indicated.
    HttpServer tls = Await.result(vertx.createHttpServer(new HttpServerOptions().setSsl(true).setSni(true)
        .setKeyCertOptions(cert.keyCertOptions()))
      .requestHandler(req -> req.body().onSuccess(body -> {
        seen.add(req.isSSL() + " " + req.authority() + " " + req.connection().indicatedServerName() + " "
          + body.toJsonObject().getString("run_id"));
        req.response().setStatusCode(204).end();
      })).listen(0, "127.0.0.1"), WAIT);
    String pgUrl = TestPostgres.newDatabase();
    try (CallbackdProcess callbackd = new CallbackdProcess("https", pgUrl, Map.of())
      .withJvmOptions("-Djavax.net.ssl.trustStore=" + trustStore, "-Djavax.net.ssl.trustStoreType=PKCS12",
        "-Djavax.net.ssl.trustStorePassword=changeit")
      .start()) {
      Sql sql = new Sql(pgUrl);
      sql.update("INSERT INTO runs (id, status, agent_id, callback_url) VALUES ('run-tls', 'completed', 'a', ?)",
        "https://localhost:" + tls.actualPort() + "/tls");
      Await.until("delivered over TLS", WAIT, () -> "delivered".equals(
        sql.one("SELECT state FROM callbackd.deliveries WHERE run_id = 'run-tls'").get("state")));
      assertEquals(List.of("true localhost:" + tls.actualPort() + " localhost run-tls"), seen);
      Map<String, Object> run = sql.one("SELECT callback_status_code, callback_error FROM runs WHERE id = 'run-tls'");
      assertEquals(204, run.get("callback_status_code"));
      assertEquals(null, run.get("callback_error"));
    } finally {
      Await.result(tls.close(), WAIT);
      Files.deleteIfExists(trustStore);
    }
  }

  /**
   * Host-name verification: a test CA is trusted, and the receiver's certificate, issued by it, names another host.
   * The chain is valid, the name is not: the handshake is refused and the callback records the TLS error. A
   * certificate from the same CA for the right name is delivered, so the name is what made the difference.
   */
  @Test
  void aTrustedCertificateIssuedForAnotherNameIsRefused(Vertx vertx) throws Exception {
    Path dir = Files.createTempDirectory("callbackd-ca-");
    String ca = dir.resolve("ca.p12").toString();
    String trustStore = dir.resolve("trust.p12").toString();
    keytool("-genkeypair", "-alias", "ca", "-keyalg", "EC", "-dname", "CN=callbackd test CA", "-ext", "bc:c",
      "-validity", "2", "-keystore", ca);
    keytool("-exportcert", "-rfc", "-alias", "ca", "-keystore", ca, "-file", dir.resolve("ca.crt").toString());
    keytool("-importcert", "-noprompt", "-alias", "ca", "-keystore", trustStore, "-file",
      dir.resolve("ca.crt").toString());
    String wrongName = issue(dir, ca, "other.callbackd.test");
    String rightName = issue(dir, ca, "localhost");

    AtomicInteger wrongRequests = new AtomicInteger();
    HttpServer wrong = Await.result(vertx.createHttpServer(new HttpServerOptions().setSsl(true)
        .setKeyCertOptions(new PfxOptions().setPath(wrongName).setPassword("changeit")))
      .requestHandler(req -> {
        wrongRequests.incrementAndGet();
        req.response().setStatusCode(204).end();
      }).listen(0, "127.0.0.1"), WAIT);
    HttpServer right = Await.result(vertx.createHttpServer(new HttpServerOptions().setSsl(true)
        .setKeyCertOptions(new PfxOptions().setPath(rightName).setPassword("changeit")))
      .requestHandler(req -> req.response().setStatusCode(204).end()).listen(0, "127.0.0.1"), WAIT);
    String pgUrl = TestPostgres.newDatabase();
    try (CallbackdProcess callbackd = new CallbackdProcess("https-name", pgUrl, Map.of(
        "CALLBACKD_RETRY_DELAYS", "0s", "CALLBACKD_REQUEST_TIMEOUT", "15s", "CALLBACKD_LEASE", "60s"))
      .withJvmOptions("-Djavax.net.ssl.trustStore=" + trustStore, "-Djavax.net.ssl.trustStoreType=PKCS12",
        "-Djavax.net.ssl.trustStorePassword=changeit")
      .start()) {
      Sql sql = new Sql(pgUrl);
      sql.update("INSERT INTO runs (id, status, agent_id, callback_url) VALUES ('run-wrong-name', 'completed', 'a', ?)",
        "https://localhost:" + wrong.actualPort() + "/tls");
      sql.update("INSERT INTO runs (id, status, agent_id, callback_url) VALUES ('run-right-name', 'completed', 'a', ?)",
        "https://localhost:" + right.actualPort() + "/tls");
      Await.until("both finished", WAIT, () -> sql.count("SELECT count(*) FROM runs WHERE callback_error IS NOT NULL"
        + " OR callback_status_code IS NOT NULL") == 2);
      Map<String, Object> refused = sql.one("SELECT callback_status_code, callback_error FROM runs"
        + " WHERE id = 'run-wrong-name'");
      String error = (String) refused.get("callback_error");
      assertTrue(error.startsWith("gave up after 1 attempts: TLS error: "), error);
      assertTrue(error.toLowerCase(java.util.Locale.ROOT).contains("localhost"), "names the host: " + error);
      assertEquals(null, refused.get("callback_status_code"));
      assertEquals(0, wrongRequests.get(), "no request went to a receiver whose certificate names another host");
      assertEquals(204, sql.one("SELECT callback_status_code FROM runs WHERE id = 'run-right-name'")
        .get("callback_status_code"));
    } finally {
      Await.result(wrong.close(), WAIT);
      Await.result(right.close(), WAIT);
    }
  }

  /** A key and a certificate for {@code name} issued by the CA in {@code ca}, in a PKCS12 file with the chain. */
  private static String issue(Path dir, String ca, String name) throws Exception {
    String store = dir.resolve(name + ".p12").toString();
    String csr = dir.resolve(name + ".csr").toString();
    String crt = dir.resolve(name + ".crt").toString();
    keytool("-genkeypair", "-alias", "leaf", "-keyalg", "EC", "-dname", "CN=" + name, "-keystore", store);
    keytool("-certreq", "-alias", "leaf", "-keystore", store, "-file", csr);
    keytool("-gencert", "-rfc", "-alias", "ca", "-keystore", ca, "-infile", csr, "-outfile", crt, "-validity", "2",
      "-ext", "san=dns:" + name, "-ext", "eku=serverAuth");
    keytool("-importcert", "-noprompt", "-alias", "ca", "-keystore", store, "-file", dir.resolve("ca.crt").toString());
    keytool("-importcert", "-noprompt", "-alias", "leaf", "-keystore", store, "-file", crt);
    return store;
  }

  private static void keytool(String... args) throws Exception {
    List<String> cmd = new java.util.ArrayList<>(List.of(
      Path.of(System.getProperty("java.home"), "bin", "keytool").toString(), "-storetype", "PKCS12",
      "-storepass", "changeit"));
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    if (!p.waitFor(60, java.util.concurrent.TimeUnit.SECONDS) || p.exitValue() != 0) {
      throw new AssertionError("keytool " + String.join(" ", args) + " failed: " + out);
    }
  }
}
