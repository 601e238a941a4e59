package io.callbackd.delivery;

import io.callbackd.support.RunningCallbackd;
import io.vertx.core.Vertx;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import io.callbackd.webhook.CallbackTarget;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

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

  /**
   * V19 rewrote origin() without a capturing regular expression (its cost per call in a fresh backend). Its answers
   * must be V13's for every URL: both functions key an exhaustive corpus of short hostile URLs (every sequence of up to
   * three fragments after every prefix) and none may differ.
   */
  @Test
  void theKeyWithoutCaptureGroupsAnswersAsBefore(Vertx vertx) throws IOException {
    String v13;
    try (InputStream in = getClass().getResourceAsStream("/db/migration/V13__trigger_rights_and_hostile_urls.sql")) {
      v13 = new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
    int start = v13.indexOf("CREATE OR REPLACE FUNCTION callbackd.origin(");
    String before = v13.substring(start, v13.indexOf("END $$;", start) + "END $$;".length())
      .replace("callbackd.origin(", "origin_v13.origin(");
    try (RunningCallbackd callbackd = new RunningCallbackd(vertx, null)) {
      callbackd.sql.update("CREATE SCHEMA origin_v13");
      callbackd.sql.update(before);
      Map<String, Object> r = callbackd.sql.one("WITH fragment(f) AS (SELECT unnest(ARRAY['h', 'A', '1', '0', '[', ']',"
        + " ':', '@', '/', '?', '#', '.', '-', '%25', ':80', ':65536', '[::1]', '[1.2]', '@h', 'x.example', '//', ''])),"
        + " prefix(p) AS (SELECT unnest(ARRAY['http://', 'HTTPS://', 'ftp://', 'http:/', 'h2+x://', 'http:://', '://',"
        + " 'http//', 'HtTp://u:p@', '', 'http://[', 'https://a@b@'])),"
        + " corpus(u) AS (SELECT p || a.f || b.f || c.f FROM prefix, fragment a, fragment b, fragment c),"
        + " keyed AS (SELECT u, origin_v13.origin(u) AS was, callbackd.origin(u) AS now FROM corpus)"
        + " SELECT count(*) AS urls, count(now) AS keyed, count(*) FILTER (WHERE was IS DISTINCT FROM now) AS differ,"
        + " string_agg(u || ' -> ' || coalesce(was, 'NULL') || ' / ' || coalesce(now, 'NULL'), '; ')"
        + " FILTER (WHERE was IS DISTINCT FROM now) AS examples FROM keyed");
      assertTrue(((Number) r.get("urls")).longValue() > 100_000, r.toString());
      // The corpus reaches keys, not only refusals.
      assertTrue(((Number) r.get("keyed")).longValue() > 5_000, r.toString());
      assertEquals(0L, ((Number) r.get("differ")).longValue(), String.valueOf(r.get("examples")));
    }
  }
}
