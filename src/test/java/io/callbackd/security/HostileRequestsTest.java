package io.callbackd.security;

import io.callbackd.support.RunningCallbackd;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Hostile and malformed requests against the running service, over real HTTP: each gets a 4xx with the usual JSON
 * error shape naming what is at fault (never a 5xx), and the service keeps serving afterwards.
 */
@ExtendWith(VertxExtension.class)
class HostileRequestsTest {

  private static final String TOKEN = "hostile-token-8c2f4e6a1b3d5f70";
  private static final String JSON = "application/json";
  private static final String AUTH = "Bearer " + TOKEN;
  private static final String KNOWN_RUN = "run-hostile-known";
  /** Every route family that takes a JSON body, with a body it accepts. */
  private static final List<String[]> JSON_ROUTES = List.of(
    new String[] {"POST", "/v1/runs", "{\"agent_id\": \"a\"}"},
    new String[] {"PATCH", "/v1/runs/" + KNOWN_RUN, "{\"stop_reason\": \"x\"}"},
    new String[] {"POST", "/v1/callbacks/redeliver", "{\"state\": \"failed\"}"});

  private static RunningCallbackd callbackd;
  private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
    .connectTimeout(Duration.ofSeconds(5)).build();

  record Reply(int status, HttpResponse<String> response) {
    JsonObject json() {
      return new JsonObject(response.body());
    }

    @Override
    public String toString() {
      return status + " " + response.headers().map() + " " + response.body();
    }
  }

  @BeforeAll
  static void start(Vertx vertx) {
    callbackd = new RunningCallbackd(vertx, new JsonObject().put("api_tokens", TOKEN)).withToken(TOKEN);
    assertEquals(201, callbackd.post("/v1/runs", new JsonObject().put("id", KNOWN_RUN).put("agent_id", "a"))
      .status());
  }

  @AfterAll
  static void stop() {
    if (callbackd != null) {
      callbackd.close();
    }
  }

  // ------------------------------------------------------------------ NUL characters

  @Test
  void nulCharactersAreRefusedNamingTheField() {
    String nul = "\\u0000";
    long runsBefore = callbackd.sql.count("SELECT count(*) FROM runs");
    JsonObject knownBefore = send("GET", "/v1/runs/" + KNOWN_RUN, null, null).json();
    refused(send("POST", "/v1/runs", JSON, "{\"id\": \"run-" + nul + "x\", \"agent_id\": \"a\"}"), 400, "id");
    refused(send("POST", "/v1/runs", JSON, "{\"agent_id\": \"a" + nul + "\"}"), 400, "agent_id");
    refused(send("POST", "/v1/runs", JSON, "{\"agent_id\": \"a\", \"callback_url\": \"http://127.0.0.1/x"
      + nul + "\"}"), 400, "callback_url");
    refused(send("POST", "/v1/runs", JSON, "{\"agent_id\": \"a\", \"conversation_id\": \"" + nul + "\"}"), 400,
      "conversation_id");
    refused(send("POST", "/v1/runs", JSON, "{\"agent_id\": \"a\", \"metadata\": {\"k\": \"v" + nul + "\"}}"), 400,
      "metadata");
    refused(send("POST", "/v1/runs", JSON, "{\"agent_id\": \"a\", \"metadata\": {\"k" + nul + "\": 1}}"), 400,
      "metadata");
    refused(send("POST", "/v1/runs", JSON, "{\"agent_id\": \"a\", \"request_config\": {\"deep\": [[{\"x\": \""
      + nul + "\"}]]}}"), 400, "request_config");
    refused(send("PATCH", "/v1/runs/" + KNOWN_RUN, JSON, "{\"stop_reason\": \"" + nul + "\"}"), 400, "stop_reason");
    refused(send("PATCH", "/v1/runs/" + KNOWN_RUN, JSON, "{\"metadata\": {\"a\": {\"b\": [\"" + nul + "\"]}}}"),
      400, "metadata");
    refused(send("POST", "/v1/callbacks/redeliver", JSON, "{\"destination\": \"http://a" + nul + "b\"}"), 400,
      "destination");
    // In the path and in query parameters, percent-encoded.
    refused(send("GET", "/v1/runs/run-%00", null, null), 400, "id");
    refused(send("PATCH", "/v1/runs/run-%00", JSON, "{\"stop_reason\": \"x\"}"), 400, "id");
    refused(send("GET", "/v1/runs/run-%00/attempts", null, null), 400, "id");
    refused(send("POST", "/v1/runs/run-%00/callback/redeliver", null, null), 400, "id");
    refused(send("POST", "/v1/runs/run-%00/callback/cancel", null, null), 400, "id");
    refused(send("GET", "/v1/callbacks?run_id=run-%00", null, null), 400, "run_id");
    refused(send("GET", "/v1/callbacks?destination=http%3A%2F%2Fa%00", null, null), 400, "destination");
    refused(send("POST", "/v1/destinations/http%3A%2F%2Fa%00b/pause", null, null), 400, "origin");
    refused(send("POST", "/v1/destinations/http%3A%2F%2Fa%00b/resume", null, null), 400, "origin");
    assertEquals(runsBefore, callbackd.sql.count("SELECT count(*) FROM runs"), "nothing refused was stored");
    assertEquals(knownBefore, send("GET", "/v1/runs/" + KNOWN_RUN, null, null).json(),
      "the refused updates changed nothing");
    // JSON nulls, numbers and booleans beside the strings are fine.
    Reply ok = send("POST", "/v1/runs", JSON, "{\"agent_id\": \"a\", "
      + "\"metadata\": {\"n\": null, \"l\": [null, 1, true, \"x\", {\"m\": null}]}}");
    assertEquals(201, ok.status(), ok.toString());
  }

  // ------------------------------------------------------------------ content type

  @Test
  void bodiesThatAreNotDeclaredAsJsonAre415() {
    for (String[] route : JSON_ROUTES) {
      for (String type : new String[] {"text/plain", null, "application/x-www-form-urlencoded",
        "application/json-seq", "application/json; charset=iso-8859-1"}) {
        refused(send(route[0], route[1], type, route[2]), 415, "content-type");
      }
    }
    // A body on a route that takes none is held to the same rule.
    refused(send("POST", "/v1/runs/" + KNOWN_RUN + "/callback/cancel", "text/plain", "please"), 415, "content-type");
    // application/json with its optional UTF-8 charset, in any case, is JSON.
    assertEquals(201, send("POST", "/v1/runs", "Application/JSON; charset=UTF-8", "{\"agent_id\": \"a\"}").status());
    assertEquals(200, send("PATCH", "/v1/runs/" + KNOWN_RUN, "application/json;charset=utf-8",
      "{\"stop_reason\": \"y\"}").status());
  }

  // ------------------------------------------------------------------ size

  @Test
  void aChunkedBodyOverTheLimitIs413WithTheErrorShape() {
    // 2 MiB against the default 1 MiB limit, without a Content-Length.
    String big = "{\"agent_id\": \"a\", \"metadata\": {\"x\": \"" + "y".repeat(2 * 1024 * 1024) + "\"}}";
    for (String[] route : JSON_ROUTES) {
      Reply r = sendChunked(route[0], route[1], big.getBytes(StandardCharsets.UTF_8));
      refused(r, 413, "body");
    }
  }

  // ------------------------------------------------------------------ encoding and structure

  @Test
  void invalidUtf8Is400() {
    byte[][] broken = {
      {(byte) 0xff, (byte) 0xfe},                // never valid in UTF-8
      {(byte) 0xc0, (byte) 0xaf},                // overlong encoding of '/'
      {(byte) 0xed, (byte) 0xa0, (byte) 0x80},   // an encoded UTF-16 surrogate
      {(byte) 0xe2, (byte) 0x82},                // a sequence cut short
      {(byte) 0x80},                             // a continuation byte alone
    };
    for (String[] route : JSON_ROUTES) {
      for (byte[] bad : broken) {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        body.writeBytes("{\"agent_id\": \"a".getBytes(StandardCharsets.UTF_8));
        body.writeBytes(bad);
        body.writeBytes("\"}".getBytes(StandardCharsets.UTF_8));
        refused(send(route[0], route[1], JSON, body.toByteArray(), AUTH), 400, "body");
      }
    }
  }

  @Test
  void unpairedSurrogateEscapesAreRefusedNamingTheField() {
    refused(send("POST", "/v1/runs", JSON, "{\"agent_id\": \"a\\ud800\"}"), 400, "agent_id");
    refused(send("PATCH", "/v1/runs/" + KNOWN_RUN, JSON, "{\"metadata\": {\"k\": \"\\udc00x\"}}"), 400, "metadata");
  }

  @Test
  void jsonNested200000LevelsDeepIs400() {
    int depth = 200_000;
    String arrays = "[".repeat(depth) + "]".repeat(depth);
    // 6 bytes a level: as deep as fits the 1 MiB limit.
    String objects = "{\"a\":".repeat(150_000) + "1" + "}".repeat(150_000);
    for (String[] route : JSON_ROUTES) {
      refused(send(route[0], route[1], JSON, arrays), 400, "body");
      refused(send(route[0], route[1], JSON, "{\"metadata\": {\"a\": " + arrays + "}}"), 400, "body");
      refused(send(route[0], route[1], JSON, "{\"metadata\": " + objects + "}"), 400, "body");
    }
    // 100 levels, the body itself counting as the first, are kept as sent; one more is refused naming the field.
    String nested = "{\"a\":".repeat(99) + "1" + "}".repeat(99);
    Reply ok = send("POST", "/v1/runs", JSON, "{\"agent_id\": \"a\", \"metadata\": " + nested + "}");
    assertEquals(201, ok.status(), ok.toString());
    assertEquals(new JsonObject(nested), ok.json().getJsonObject("metadata"));
    String deeper = "{\"a\":[".repeat(50) + "1" + "]}".repeat(50);
    refused(send("POST", "/v1/runs", JSON, "{\"agent_id\": \"a\", \"metadata\": " + deeper + "}"), 400, "metadata");
    refused(send("PATCH", "/v1/runs/" + KNOWN_RUN, JSON, "{\"metadata\": " + deeper + "}"), 400, "metadata");
  }

  // ------------------------------------------------------------------ run ids

  @Test
  void runIdsOverTheMaximumLengthAre400NamingTheField() {
    String longest = "run-" + "x".repeat(251);
    String tooLong = longest + "y";
    Reply accepted = send("POST", "/v1/runs", JSON, "{\"id\": \"" + longest + "\", \"agent_id\": \"a\"}");
    assertEquals(201, accepted.status(), accepted.toString());
    assertEquals(200, send("GET", "/v1/runs/" + longest, null, null).status());

    refused(send("POST", "/v1/runs", JSON, "{\"id\": \"" + tooLong + "\", \"agent_id\": \"a\"}"), 400, "id");
    refused(send("GET", "/v1/runs/" + tooLong, null, null), 400, "id");
    refused(send("PATCH", "/v1/runs/" + tooLong, JSON, "{\"stop_reason\": \"x\"}"), 400, "id");
    refused(send("GET", "/v1/runs/" + tooLong + "/attempts", null, null), 400, "id");
    refused(send("POST", "/v1/runs/" + tooLong + "/callback/redeliver", null, null), 400, "id");
    refused(send("POST", "/v1/runs/" + tooLong + "/callback/cancel", null, null), 400, "id");
    refused(send("GET", "/v1/callbacks?run_id=" + tooLong, null, null), 400, "run_id");
    // Far over it, still within what an HTTP request line may hold.
    refused(send("GET", "/v1/runs/" + "z".repeat(3000), null, null), 400, "id");
  }

  // ------------------------------------------------------------------ numbers

  @Test
  void integersBeyond64BitsAre400NamingTheField() {
    String huge = "123456789012345678901234567890";
    refused(send("POST", "/v1/runs", JSON, "{\"agent_id\": \"a\", \"ttft_ns\": " + huge + "}"), 400, "ttft_ns");
    refused(send("POST", "/v1/runs", JSON, "{\"agent_id\": \"a\", \"total_duration_ns\": 9223372036854775808}"), 400,
      "total_duration_ns");
    refused(send("POST", "/v1/runs", JSON, "{\"agent_id\": \"a\", \"ttft_ns\": -" + huge + "}"), 400, "ttft_ns");
    refused(send("POST", "/v1/runs", JSON, "{\"agent_id\": \"a\", \"ttft_ns\": 1e30}"), 400, "ttft_ns");
    refused(send("POST", "/v1/runs", JSON, "{\"agent_id\": \"a\", \"ttft_ns\": 9.2233720368547758E18}"), 400,
      "ttft_ns");
    refused(send("PATCH", "/v1/runs/" + KNOWN_RUN, JSON, "{\"total_duration_ns\": " + huge + "}"), 400,
      "total_duration_ns");
    refused(send("POST", "/v1/callbacks/redeliver", JSON, "{\"limit\": " + huge + "}"), 400, "limit");
    // The largest 64-bit value is stored as is.
    Reply max = send("POST", "/v1/runs", JSON, "{\"agent_id\": \"a\", \"ttft_ns\": 9223372036854775807}");
    assertEquals(201, max.status(), max.toString());
    assertEquals(Long.MAX_VALUE, max.json().getLong("ttft_ns"));
  }

  // ------------------------------------------------------------------ paging

  @Test
  void garbageCursorsAndLimitsAre400() {
    for (String query : new String[] {"cursor=abc", "cursor=-1", "cursor=0", "cursor=1.5", "cursor=1e3",
      "cursor=99999999999999999999", "cursor=%00", "cursor=0x10"}) {
      refused(send("GET", "/v1/callbacks?" + query, null, null), 400, "cursor");
    }
    for (String path : new String[] {"/v1/callbacks", "/v1/destinations"}) {
      for (String query : new String[] {"limit=abc", "limit=-1", "limit=0", "limit=1001", "limit=2147483648",
        "limit=99999999999999999999", "limit=1.5", "limit=%00"}) {
        refused(send("GET", path + "?" + query, null, null), 400, "limit");
      }
    }
    refused(send("GET", "/v1/callbacks?state=lost", null, null), 400, "state");
    assertEquals(200, send("GET", "/v1/callbacks?limit=1000&cursor=9223372036854775807", null, null).status());
  }

  // ------------------------------------------------------------------ authorization

  @Test
  void authorizationOtherThanABearerTokenIs401() {
    List<String[]> routes = List.of(new String[] {"GET", "/v1/runs/" + KNOWN_RUN, null},
      new String[] {"POST", "/v1/runs", "{\"agent_id\": \"a\"}"},
      new String[] {"GET", "/v1/callbacks", null},
      new String[] {"POST", "/v1/callbacks/redeliver", "{}"},
      new String[] {"GET", "/v1/destinations", null},
      new String[] {"POST", "/v1/destinations/http%3A%2F%2Fexample.com%3A80/pause", null});
    String basic = "Basic " + java.util.Base64.getEncoder().encodeToString(("user:" + TOKEN).getBytes());
    for (String[] route : routes) {
      for (String header : new String[] {null, basic, "Bearer", "Bearer ", "Bearer    ", "Bearer" + TOKEN,
        "Token " + TOKEN, TOKEN, "Bearer " + TOKEN + " extra", "Bearer wrong-" + TOKEN, "Digest " + TOKEN}) {
        Reply r = send(route[0], route[1], route[2] == null ? null : JSON, bytes(route[2]), header);
        refused(r, 401, "authorization");
        assertTrue(r.response().headers().firstValue("www-authenticate").orElse("").startsWith("Bearer"),
          r.toString());
      }
    }
    // The scheme's name is case-insensitive (RFC 7235), and more than one space may precede the token.
    for (String header : new String[] {"bearer " + TOKEN, "BEARER " + TOKEN, "Bearer   " + TOKEN}) {
      Reply r = send("GET", "/v1/runs/" + KNOWN_RUN, null, null, header);
      assertEquals(200, r.status(), header + ": " + r);
    }
  }

  // ------------------------------------------------------------------ requests HTTP itself refuses

  @Test
  void requestsRefusedBeforeRoutingStillGetTheErrorShape() throws IOException {
    String longUri = "GET /v1/runs/" + "u".repeat(10_000) + " HTTP/1.1\r\nHost: x\r\nAuthorization: " + AUTH
      + "\r\n\r\n";
    refusedRaw(longUri, 414);
    String bigHeader = "GET /v1/runs/x HTTP/1.1\r\nHost: x\r\nX-Big: " + "h".repeat(20_000) + "\r\n\r\n";
    refusedRaw(bigHeader, 431);
    refusedRaw("GET /v1/runs/x HTTP/1.1\r\nHost: x\r\nX-Nul: a\u0000b\r\n\r\n", 400);
    assertStillServing();
  }

  // ------------------------------------------------------------------ helpers

  private static void refused(Reply r, int status, String field) {
    assertEquals(status, r.status(), r.toString());
    assertTrue(r.response().headers().firstValue("content-type").orElse("").startsWith(JSON), r.toString());
    JsonObject body = r.json();
    assertNotNull(body.getString("error"), r.toString());
    assertEquals(field, body.getString("field"), r.toString());
    assertFalse(body.getString("error").isBlank(), r.toString());
    SecurityHeaders.assertPresent(r.response().headers(), r.toString());
    assertStillServing();
  }

  /** A normal request succeeds: the service answers after whatever came before. */
  private static void assertStillServing() {
    Reply r = send("GET", "/v1/runs/" + KNOWN_RUN, null, null);
    assertEquals(200, r.status(), "after a refused request: " + r);
    assertEquals(KNOWN_RUN, r.json().getString("id"));
  }

  private static byte[] bytes(String s) {
    return s == null ? null : s.getBytes(StandardCharsets.UTF_8);
  }

  private static Reply send(String method, String path, String contentType, String body) {
    return send(method, path, contentType, bytes(body), AUTH);
  }

  private static Reply send(String method, String path, String contentType, byte[] body, String authorization) {
    HttpRequest.Builder b = request(path, authorization);
    if (contentType != null) {
      b.header("content-type", contentType);
    }
    b.method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofByteArray(body));
    return exchange(b.build());
  }

  /** The body streamed with chunked transfer encoding: its length is unknown to the client, so none is sent. */
  private static Reply sendChunked(String method, String path, byte[] body) {
    HttpRequest.Builder b = request(path, AUTH).header("content-type", JSON);
    b.method(method, HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(body)));
    return exchange(b.build());
  }

  private static HttpRequest.Builder request(String path, String authorization) {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base() + path)).timeout(Duration.ofSeconds(30));
    if (authorization != null) {
      b.header("authorization", authorization);
    }
    return b;
  }

  private static Reply exchange(HttpRequest request) {
    try {
      HttpResponse<String> resp = HTTP.send(request, HttpResponse.BodyHandlers.ofString());
      return new Reply(resp.statusCode(), resp);
    } catch (IOException e) {
      throw new AssertionError(request.method() + " " + request.uri() + ": no answer", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
  }

  private static String base() {
    return "http://127.0.0.1:" + callbackd.app().httpPort();
  }

  /** Sends bytes no well-behaved client would, and reads the answer's status line, headers and body. */
  private static void refusedRaw(String request, int status) throws IOException {
    try (Socket socket = new Socket("127.0.0.1", callbackd.app().httpPort())) {
      socket.setSoTimeout(20_000);
      OutputStream out = socket.getOutputStream();
      out.write(request.getBytes(StandardCharsets.ISO_8859_1));
      out.flush();
      InputStream in = socket.getInputStream();
      String answer = new String(in.readAllBytes(), StandardCharsets.UTF_8);
      String head = answer.substring(0, Math.max(0, answer.indexOf("\r\n\r\n")));
      String shown = answer.length() > 600 ? answer.substring(0, 600) : answer;
      // The decoder answers what it could not read as HTTP/1.0.
      assertTrue(head.matches("(?s)HTTP/1\\.[01] " + status + " .*"), shown);
      String lower = head.toLowerCase(Locale.ROOT);
      assertTrue(lower.contains("\r\ncontent-type: application/json"), shown);
      assertTrue(lower.contains("\r\nx-content-type-options: nosniff"), shown);
      assertTrue(lower.contains("\r\nreferrer-policy: no-referrer"), shown);
      assertTrue(lower.contains("frame-ancestors 'none'"), shown);
      String body = answer.substring(answer.indexOf("\r\n\r\n") + 4);
      assertNotNull(new JsonObject(body).getString("error"), shown);
    }
  }
}
