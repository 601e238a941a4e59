package io.callbackd.delivery;

import io.callbackd.support.RunningCallbackd;
import io.vertx.core.Vertx;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * The destination key every breaker, limit, pause and filter uses, as PostgreSQL computes it (callbackd.origin): the
 * outbox trigger writes it for every callback, so its rules are checked against the database function itself.
 */
@ExtendWith(VertxExtension.class)
class DestinationKeyTest {

  @Test
  void urlsOfOneReceiverShareOneKey(Vertx vertx) {
    Map<String, String> expected = new LinkedHashMap<>();
    expected.put("http://127.0.0.1:19100/hook", "http://127.0.0.1:19100");
    expected.put("HTTPS://Hooks.Example.COM/a?b=c", "https://hooks.example.com:443");
    expected.put("https://user:secret@hooks.example.com:8443/x", "https://hooks.example.com:8443");
    expected.put("http://hooks.example.com", "http://hooks.example.com:80");
    expected.put("http://[2001:db8::1]:8080/cb", "http://[2001:db8::1]:8080");
    expected.put("https://hooks.example.com#frag", "https://hooks.example.com:443");
    try (RunningCallbackd callbackd = new RunningCallbackd(vertx, null)) {
      for (Map.Entry<String, String> e : expected.entrySet()) {
        assertEquals(e.getValue(), callbackd.sql.one("SELECT callbackd.origin(?) AS o", e.getKey()).get("o"),
          e.getKey());
      }
      assertNull(callbackd.sql.one("SELECT callbackd.origin(?) AS o", "not a url").get("o"));
      // A run written by a platform with such a URL is queued under the key (the trigger computes it).
      callbackd.sql.update("INSERT INTO runs (id, status, agent_id, callback_url) VALUES ('run-key', 'completed', 'a',"
        + " 'HTTPS://Hooks.Example.COM/a')");
      assertEquals("https://hooks.example.com:443",
        callbackd.sql.one("SELECT destination FROM callbackd.deliveries WHERE run_id = 'run-key'").get("destination"));
      callbackd.sql.update("INSERT INTO runs (id, status, agent_id, callback_url) VALUES ('run-bad', 'failed', 'a',"
        + " 'nowhere')");
      assertEquals("invalid",
        callbackd.sql.one("SELECT destination FROM callbackd.deliveries WHERE run_id = 'run-bad'").get("destination"));
    }
  }
}
