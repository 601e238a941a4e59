package io.callbackd.security;

import io.callbackd.support.Await;
import io.callbackd.support.CallbackdProcess;
import io.callbackd.support.Sql;
import io.callbackd.support.TestPostgres;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
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

import static org.junit.jupiter.api.Assertions.assertEquals;

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
}
