package io.callbackd.metrics;

import io.callbackd.support.Await;
import io.callbackd.support.RunningCallbackd;
import io.callbackd.support.TestReceiver;
import io.callbackd.support.TestReceiver.Answer;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Plain lines by default, JSON lines on request; never a secret or a URL's query string either way. */
@ExtendWith(VertxExtension.class)
class LogFormatTest {

  private final PrintStream original = System.out;

  @AfterEach
  void restore() {
    System.setOut(original);
    LogFormat.apply("plain");
  }

  private ByteArrayOutputStream capture() {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    System.setOut(new PrintStream(bytes, true, StandardCharsets.UTF_8));
    return bytes;
  }

  @Test
  void jsonLinesCarryTheStructuredFields() {
    ByteArrayOutputStream out = capture();
    LogFormat.apply("json");
    LoggerFactory.getLogger("io.callbackd.test").atInfo().addKeyValue("run_id", "run-42").addKeyValue("attempt", 3)
      .log("attempt {}", 3);
    String line = out.toString(StandardCharsets.UTF_8).trim();
    JsonObject json = new JsonObject(line);
    assertEquals("INFO", json.getString("level"));
    assertEquals("attempt 3", json.getString("formattedMessage"));
    assertTrue(json.encode().contains("\"run_id\":\"run-42\""), line);
  }

  @Test
  void plainLinesAreReadable() {
    ByteArrayOutputStream out = capture();
    LogFormat.apply("plain");
    LoggerFactory.getLogger("io.callbackd.test").info("hello {}", "world");
    String line = out.toString(StandardCharsets.UTF_8).trim();
    assertTrue(line.matches("\\d{4}-\\d\\d-\\d\\dT.* INFO .* - hello world"), line);
  }

  @Test
  void noSecretTokenOrQueryStringIsEverLogged(Vertx vertx) {
    String secret = "whsec_" + Base64.getEncoder().encodeToString("a-signing-secret-never-to-print!".getBytes());
    ByteArrayOutputStream out = capture();
    LogFormat.apply("json");
    try (TestReceiver receiver = new TestReceiver(vertx);
         RunningCallbackd callbackd = new RunningCallbackd(vertx, new JsonObject().put("signing_secrets", secret)
           .put("api_tokens", "api-token-never-to-print").put("retry_delays", "0s,50ms"))) {
      callbackd.withToken("api-token-never-to-print");
      receiver.otherwise("/logged", Answer.status(503));
      String id = callbackd.completeRun(receiver.url("/logged?token=query-secret-never-to-print"), null);
      Await.until("failed", Duration.ofSeconds(20), () -> "failed".equals(callbackd.callbackState(id)));
    }
    String logs = out.toString(StandardCharsets.UTF_8);
    assertTrue(logs.contains("/logged"), "the attempts were logged");
    for (String s : new String[] {secret, secret.substring(6), "api-token-never-to-print", "query-secret-never-to-print"}) {
      assertFalse(logs.contains(s), "logged: " + s);
    }
    for (String line : logs.split("\n")) {
      if (!line.isBlank()) {
        new JsonObject(line);
      }
    }
  }
}
