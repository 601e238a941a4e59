package io.callbackd.delivery;

import io.callbackd.support.RunningCallbackd;
import io.vertx.core.Vertx;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import io.callbackd.webhook.CallbackTarget;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
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
      // The database's rules and the dispatcher's agree: what the database cannot key is what the dispatcher fails
      // with a reason, and what a destination can be, both accept.
      for (String url : List.of("https://hooks.example.com/cb", "http://127.0.0.1:8080/x", "http://[::1]:9000/cb",
        "HTTPS://Hooks.Example.COM./a", "http://h.example:65535/", "http://h.example:/x")) {
        assertNotNull(callbackd.sql.one("SELECT callbackd.origin(?) AS o", url).get("o"), url);
        assertNull(CallbackTarget.problem(url), url);
      }
      for (String url : List.of("ftp://files.example.com/x", "http:///x", "http://h.example:0/", "http://h.example:65536/",
        "http://h.example:80abc/", "http://h_1.example/", "http://" + "a".repeat(254) + "/", "https://h.example/"
          + "p".repeat(2048), "mailto:x@example.com", "http://[fe80::1%25eth0]/", "http://bücher.example/")) {
        assertNull(callbackd.sql.one("SELECT callbackd.origin(?) AS o", url).get("o"), url);
        assertNotNull(CallbackTarget.problem(url), url);
      }
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
