package io.callbackd.console;

import com.standardwebhooks.Webhook;
import com.standardwebhooks.exceptions.WebhookVerificationException;
import io.callbackd.support.Await;
import io.callbackd.support.RunningCallbackd;
import io.callbackd.support.RunningCallbackd.Response;
import io.callbackd.support.TestReceiver;
import io.callbackd.support.TestReceiver.Answer;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.NoSuchElementException;
import org.openqa.selenium.StaleElementReferenceException;
import org.openqa.selenium.TimeoutException;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.support.ui.ExpectedConditions;
import org.openqa.selenium.support.ui.Select;
import org.openqa.selenium.support.ui.WebDriverWait;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The operator console in a real browser (headless Chromium) against a real callbackd, PostgreSQL and receiver:
 * sign-in, the overview's numbers, finding a failed callback and redelivering it from its timeline, a bulk replay,
 * pausing and resuming a destination, and that text from the server never turns into markup.
 */
@ExtendWith(VertxExtension.class)
class ConsoleBrowserTest {

  private static final String TOKEN = "console-token-5f1c0d2e9a7b4c3d";
  private static final Duration WAIT = Duration.ofSeconds(30);
  private static final String CONSOLE_ENTRY = "/console";
  private static final Pattern NUMBER = Pattern.compile("[0-9][0-9,]*(\\.[0-9]+)?");

  private static RunningCallbackd callbackd;
  private static TestReceiver receiver;
  private static TestReceiver markupReceiver;
  private static TestReceiver busyReceiver;
  /** Another origin (another port) serving a page that puts the console in a frame. */
  private static HttpServer framingSite;
  private static String base;

  private HeadlessChromium chromium;
  private WebDriver driver;
  private WebDriverWait wait;

  @BeforeAll
  static void start(Vertx vertx) {
    HeadlessChromium.assumeInstalled();
    receiver = new TestReceiver(vertx);
    markupReceiver = new TestReceiver(vertx);
    busyReceiver = new TestReceiver(vertx).otherwise("/hooks/flaky", Answer.status(503));
    // One attempt only: a 410 or a 500 fails the callback at once. The breaker stays out of the way.
    callbackd = new RunningCallbackd(vertx, new JsonObject().put("api_tokens", TOKEN).put("retry_delays", "0s")
      .put("breaker_failures", 1000).put("redeliver_rate", 50)
      .put("secrets_key", java.util.Base64.getEncoder().encodeToString(new byte[32])));
    callbackd.withToken(TOKEN);
    base = "http://127.0.0.1:" + callbackd.app().httpPort();
    framingSite = Await.result(vertx.createHttpServer().requestHandler(req -> {
      if (req.path().equals("/own")) {
        req.response().putHeader("content-type", "text/html")
          .end("<!DOCTYPE html><html><body><p id=\"own-content\">framed</p></body></html>");
      } else {
        // Each frame counts its load, blocked or not; the first frame is this site's own page, as a control.
        req.response().putHeader("content-type", "text/html").end("<!DOCTYPE html><html><body>"
          + "<iframe id=\"own\" name=\"own\" src=\"/own\" onload=\"window.ownLoaded = true\"></iframe>"
          + "<iframe id=\"console\" name=\"console\" src=\"" + base + "/console/\""
          + " onload=\"window.consoleLoaded = true\"></iframe></body></html>");
      }
    }).listen(0, "127.0.0.1"), WAIT);
  }

  @AfterAll
  static void stop() {
    if (callbackd != null) {
      callbackd.close();
    }
    if (receiver != null) {
      receiver.close();
    }
    if (markupReceiver != null) {
      markupReceiver.close();
    }
    if (busyReceiver != null) {
      busyReceiver.close();
    }
    if (framingSite != null) {
      Await.result(framingSite.close(), WAIT);
    }
  }

  @BeforeEach
  void openBrowser() {
    chromium = new HeadlessChromium();
    driver = chromium.driver();
    wait = new WebDriverWait(driver, WAIT);
    wait.ignoring(StaleElementReferenceException.class).ignoring(NoSuchElementException.class);
  }

  @AfterEach
  void closeBrowser() {
    if (chromium != null) {
      chromium.close();
    }
  }

  // ------------------------------------------------------------------ the walk-through

  @Test
  void anOperatorSignsInFindsAFailedCallbackRedeliversItAndPausesItsDestination() {
    receiver.script("/hooks/gone", Answer.status(410));
    receiver.script("/hooks/broken", Answer.status(500));
    String goneRun = callbackd.completeRun(receiver.url("/hooks/gone"), new JsonObject().put("step", 1));
    String brokenRun = callbackd.completeRun(receiver.url("/hooks/broken"), null);
    List<String> delivered = List.of(callbackd.completeRun(receiver.url("/hooks/ok"), null),
      callbackd.completeRun(receiver.url("/hooks/ok"), null), callbackd.completeRun(receiver.url("/hooks/ok"), null));
    awaitState(goneRun, "failed");
    awaitState(brokenRun, "failed");
    delivered.forEach(id -> awaitState(id, "delivered"));
    String origin = "http://127.0.0.1:" + receiver.port();

    // Without a token, only the sign-in form.
    openConsole("");
    visible("login-view");
    assertFalse(driver.findElement(By.id("app")).isDisplayed(), "nothing but the sign-in before a token");
    String before = driver.findElement(By.tagName("body")).getText();
    assertFalse(before.contains(goneRun) || before.contains(origin), before);
    assertEverythingCameFromCallbackd();

    // A wrong token is refused and not kept.
    signIn("not-the-token");
    WebElement refusal = visible("login-message");
    assertTrue(refusal.getText().contains("refused"), refusal.getText());
    assertNull(storedToken());
    assertFalse(driver.findElement(By.id("app")).isDisplayed());

    // The right one opens the overview.
    signIn(TOKEN);
    visible("view-overview");
    assertFalse(driver.findElement(By.id("login-view")).isDisplayed());
    assertEquals(TOKEN, storedToken());
    for (String id : List.of("ov-pending", "ov-in-flight", "ov-oldest", "ov-open-breakers", "ov-paused",
      "ov-total-delivered", "ov-total-failed", "ov-total-gone")) {
      wait.until(d -> {
        String v = d.findElement(By.id(id)).getDomAttribute("data-value");
        return v != null && !v.isEmpty();
      });
    }
    assertTrue(number("ov-total-delivered") >= 3, "delivered total");
    assertTrue(number("ov-total-failed") >= 1, "failed total");
    assertTrue(number("ov-total-gone") >= 1, "gone total");
    assertEquals(0, number("ov-paused"));
    assertEquals(0, number("ov-open-breakers"));
    assertTrue(NUMBER.matcher(text("ov-pending")).matches(), text("ov-pending"));
    assertTrue(text("ov-oldest").matches("\\d+ s|\\d+ min \\d+ s"), text("ov-oldest"));
    // Rates need two readings of /metrics, the chart three; some traffic meanwhile (to another receiver, so that
    // the failed callbacks below stay the two made above).
    ScheduledExecutorService traffic = Executors.newSingleThreadScheduledExecutor();
    AtomicInteger sent = new AtomicInteger();
    try {
      traffic.scheduleAtFixedRate(() -> callbackd.completeRun(
          busyReceiver.url(sent.incrementAndGet() % 5 == 0 ? "/hooks/flaky" : "/hooks/ok"), null),
        0, 250, TimeUnit.MILLISECONDS);
      wait.until(d -> {
        String v = d.findElement(By.id("ov-rate-delivered")).getDomAttribute("data-value");
        return v != null && !v.isEmpty() && Double.parseDouble(v) > 0;
      });
      for (String outcome : List.of("delivered", "failed", "gone")) {
        wait.until(d -> NUMBER.matcher(d.findElement(By.id("ov-rate-" + outcome)).getText()).matches());
      }
      wait.until(d -> d.findElements(By.cssSelector("#ov-chart polyline")).size() == 3
        && d.findElements(By.cssSelector("#ov-attention li")).size() >= 1);
      shot("overview");
    } finally {
      traffic.shutdownNow();
    }

    // Callbacks: the failed ones, then the 410's timeline.
    driver.findElement(By.id("tab-callbacks")).click();
    visible("view-callbacks");
    new Select(driver.findElement(By.id("cb-state"))).selectByValue("failed");
    driver.findElement(By.id("cb-search")).click();
    By goneRow = By.cssSelector("#callbacks-body tr[data-run-id='" + goneRun + "']");
    wait.until(ExpectedConditions.visibilityOfElementLocated(goneRow));
    wait.until(d -> {
      List<WebElement> rows = d.findElements(By.cssSelector("#callbacks-body tr"));
      return rows.size() >= 2 && rows.stream().allMatch(r -> "failed".equals(r.getDomAttribute("data-state")));
    });
    assertTrue(driver.findElement(goneRow).getText().contains("410"), driver.findElement(goneRow).getText());
    visible("cb-bulk");

    driver.findElement(goneRow).click();
    visible("timeline");
    wait.until(d -> goneRun.equals(d.findElement(By.id("timeline-run-id")).getText()));
    wait.until(d -> attempts(d).size() == 1);
    WebElement first = attempts(driver).get(0);
    assertEquals("410", first.getDomAttribute("data-status"));
    assertEquals("1", first.getDomAttribute("data-generation"));
    assertTrue(first.getText().contains("410"), first.getText());
    wait.until(d -> d.findElement(By.id("timeline-redeliver")).isEnabled());
    assertFalse(driver.findElement(By.id("timeline-cancel")).isEnabled(), "nothing pending to cancel");

    driver.findElement(By.id("timeline-redeliver")).click();
    wait.until(d -> !d.findElements(By.cssSelector(
      "#timeline-attempts li[data-generation='2'][data-attempt='1'][data-status='204']")).isEmpty());
    assertEquals(2, attempts(driver).size());
    assertTrue(text("timeline-message").contains("generation 2"), text("timeline-message"));
    assertEquals("delivered", callbackd.callbackState(goneRun));
    wait.until(d -> "delivered".equals(d.findElement(By.id("timeline")).getDomAttribute("data-state")));

    // Replay the failed callbacks of this destination: only the 500 is still failed.
    WebElement destination = driver.findElement(By.id("cb-destination"));
    destination.clear();
    destination.sendKeys(origin);
    driver.findElement(By.id("cb-search")).click();
    wait.until(d -> text(d, "cb-summary").contains("shown"));
    driver.findElement(By.id("cb-replay-failed")).click();
    visible("cb-replay-confirm");
    assertTrue(text("cb-replay-question").contains(origin), text("cb-replay-question"));
    driver.findElement(By.id("cb-replay-confirm-yes")).click();
    WebElement replayed = visible("cb-replay-result");
    assertEquals("1", replayed.getDomAttribute("data-redelivered"), replayed.getText());
    assertTrue(replayed.getText().contains("Redelivered 1 failed callback"), replayed.getText());
    awaitState(brokenRun, "delivered");
    shot("callbacks");

    // An API refusal is shown with the API's own words.
    destination.clear();
    destination.sendKeys("not an origin");
    driver.findElement(By.id("cb-search")).click();
    WebElement error = visible("error-banner");
    assertTrue(error.getText().contains("HTTP 400") && error.getText().contains("destination"), error.getText());
    driver.findElement(By.id("cb-reset")).click();
    wait.until(ExpectedConditions.invisibilityOfElementLocated(By.id("error-banner")));

    // Destinations: pause, check through the API, resume.
    driver.findElement(By.id("tab-destinations")).click();
    visible("view-destinations");
    By row = By.cssSelector("#destinations-body tr[data-destination='" + origin + "']");
    wait.until(ExpectedConditions.visibilityOfElementLocated(row));
    assertEquals("false", driver.findElement(row).getDomAttribute("data-paused"));
    driver.findElement(row).findElement(By.cssSelector("button[data-action='pause']")).click();
    wait.until(d -> "true".equals(d.findElement(row).getDomAttribute("data-paused")));
    Await.until("the API reports " + origin + " paused", WAIT, () -> paused(origin));
    assertTrue(text("dest-message").contains("Paused " + origin), text("dest-message"));
    assertTrue(driver.findElement(row).getText().contains("paused"), driver.findElement(row).getText());
    shot("destinations");

    driver.findElement(row).findElement(By.cssSelector("button[data-action='resume']")).click();
    wait.until(d -> "false".equals(d.findElement(row).getDomAttribute("data-paused")));
    Await.until("the API reports " + origin + " resumed", WAIT, () -> !paused(origin));

    // The overview counts paused destinations.
    driver.findElement(By.id("tab-overview")).click();
    visible("view-overview");
    wait.until(d -> "0".equals(d.findElement(By.id("ov-paused")).getDomAttribute("data-value")));

    assertEverythingCameFromCallbackd();
    assertNoScriptErrors();
  }

  // ------------------------------------------------------------------ sign-out and expired tokens

  @Test
  void aRefusedTokenReturnsToTheSignInAndLeavesNoDataOnThePage() {
    String run = callbackd.completeRun(receiver.url("/hooks/ok"), null);
    awaitState(run, "delivered");
    openConsole("#destinations");
    visible("login-view");
    signIn(TOKEN);
    visible("view-destinations");
    wait.until(ExpectedConditions.visibilityOfElementLocated(By.cssSelector("#destinations-body tr")));

    // The token stops being accepted (rotated away): the next call gets a 401.
    ((JavascriptExecutor) driver).executeScript(
      "sessionStorage.setItem('callbackd.console.token', 'rotated-away-token')");
    driver.findElement(By.id("dest-refresh")).click();
    WebElement message = visible("login-message");
    assertTrue(message.getText().contains("refused"), message.getText());
    assertFalse(driver.findElement(By.id("app")).isDisplayed());
    assertNull(storedToken());
    assertTrue(driver.findElements(By.cssSelector("#destinations-body tr")).isEmpty(), "rows left on the page");

    // Signing in again brings the data back; signing out forgets the token.
    signIn(TOKEN);
    wait.until(ExpectedConditions.visibilityOfElementLocated(By.cssSelector("#destinations-body tr")));
    driver.findElement(By.id("logout")).click();
    visible("login-view");
    assertFalse(visible("login-view").getText().contains("refused"));
    assertNull(storedToken());
    assertTrue(driver.findElements(By.cssSelector("#destinations-body tr")).isEmpty());
  }

  // ------------------------------------------------------------------ signing secrets

  @Test
  void anOperatorSetsAndRotatesAnOrganizationsSigningSecretsSeeingOnlyFingerprints() {
    String org = "org-console";
    openConsole("#secrets");
    signIn(TOKEN);
    visible("view-secrets");
    WebElement orgField = visible("sec-org");
    orgField.sendKeys(org);
    driver.findElement(By.id("sec-show")).click();
    visible("sec-none");
    assertEquals(org, text("sec-org-shown"));

    // A first secret, generated in the browser.
    driver.findElement(By.id("sec-generate")).click();
    String first = driver.findElement(By.id("sec-input")).getDomProperty("value").trim();
    assertTrue(first.matches("whsec_[A-Za-z0-9+/]{43}="), first);
    driver.findElement(By.id("sec-save")).click();
    wait.until(d -> d.findElements(By.cssSelector("#sec-body tr")).size() == 1);
    assertEquals(fingerprint(first), driver.findElement(By.cssSelector("#sec-body tr td.mono")).getText());
    assertTrue(text("sec-message").contains("Saved: 1 secret"), text("sec-message"));
    assertEquals("", driver.findElement(By.id("sec-input")).getDomProperty("value"), "the secret left the page");
    String firstAdded = callbackd.get("/v1/organizations/" + org + "/signing-secrets").json().getJsonArray("secrets")
      .getJsonObject(0).getString("added_at");

    // Rotation: a new secret first, the current one kept below it.
    driver.findElement(By.id("sec-generate")).click();
    String second = driver.findElement(By.id("sec-input")).getDomProperty("value").trim();
    driver.findElement(By.id("sec-input")).sendKeys("\n" + first);
    driver.findElement(By.id("sec-save")).click();
    wait.until(d -> d.findElements(By.cssSelector("#sec-body tr")).size() == 2);
    List<WebElement> fingerprints = driver.findElements(By.cssSelector("#sec-body tr td.mono"));
    assertEquals(fingerprint(second), fingerprints.get(0).getText());
    assertEquals(fingerprint(first), fingerprints.get(1).getText());
    JsonArray stored = callbackd.get("/v1/organizations/" + org + "/signing-secrets").json().getJsonArray("secrets");
    assertEquals(firstAdded, stored.getJsonObject(1).getString("added_at"), "the kept secret keeps its added time");
    String page = driver.getPageSource();
    assertFalse(page.contains(first.substring(6)) || page.contains(second.substring(6)), "a secret on the page");
    shot("secrets");

    // The organization's callbacks now verify with either secret, and not with another.
    Response created = callbackd.post("/v1/runs", new JsonObject().put("agent_id", "agent-1").put("status", "running")
      .put("organization_id", org).put("callback_url", receiver.url("/hooks/org-console")));
    String run = created.json().getString("id");
    callbackd.patch("/v1/runs/" + run, new JsonObject().put("status", "completed"));
    awaitState(run, "delivered");
    TestReceiver.Received got = receiver.received("/hooks/org-console").get(0);
    Map<String, List<String>> headers = new java.util.HashMap<>();
    got.headers().forEach(e -> headers.computeIfAbsent(e.getKey().toLowerCase(), k -> new java.util.ArrayList<>())
      .add(e.getValue()));
    for (String secret : List.of(first, second)) {
      try {
        new Webhook(secret).verify(got.body().toString(), headers);
      } catch (WebhookVerificationException e) {
        throw new AssertionError("the callback does not verify with a secret set in the console", e);
      }
    }
    assertThrows(WebhookVerificationException.class, () -> new Webhook("whsec_"
      + java.util.Base64.getEncoder().encodeToString(new byte[32])).verify(got.body().toString(), headers));

    // A malformed secret: the API's refusal, naming its position and the field, without quoting it.
    driver.findElement(By.id("sec-input")).sendKeys("whsec_not-base64!");
    driver.findElement(By.id("sec-save")).click();
    WebElement error = visible("error-banner");
    assertTrue(error.getText().contains("entry 1") && error.getText().contains("field secrets"), error.getText());
    assertFalse(error.getText().contains("not-base64"), error.getText());
    driver.findElement(By.id("error-dismiss")).click();

    // Remove all, after confirming: back to the deployment's secrets.
    driver.findElement(By.id("sec-remove")).click();
    visible("sec-remove-confirm");
    driver.findElement(By.id("sec-remove-yes")).click();
    visible("sec-none");
    assertTrue(text("sec-message").contains("Removed"), text("sec-message"));
    assertEquals(404, callbackd.get("/v1/organizations/" + org + "/signing-secrets").status());
    assertEverythingCameFromCallbackd();
    assertNoScriptErrors();
  }

  private static String fingerprint(String secret) {
    return io.callbackd.webhook.CallbackSigner.fingerprint(java.util.Base64.getDecoder().decode(secret.substring(6)));
  }

  // ------------------------------------------------------------------ text is text

  @Test
  void textFromTheServerIsShownAsTextNeverAsMarkup() {
    String hostileId = "run-<img src=x onerror=window.__pwned=1><b>bold";
    String hostileBody = "<img src=x onerror=window.__pwned=2><script>window.__pwned=3</script>";
    markupReceiver.script("/hooks/markup", req -> req.response().setStatusCode(500)
      .putHeader("content-type", "text/html").end(hostileBody));
    Response created = callbackd.post("/v1/runs", new JsonObject().put("id", hostileId).put("agent_id", "agent-1")
      .put("status", "completed").put("callback_url", markupReceiver.url("/hooks/markup")));
    assertEquals(201, created.status(), String.valueOf(created.json()));
    Await.until(hostileId + " failed", WAIT, () -> {
      JsonArray list = callbackd.get("/v1/callbacks?state=failed&limit=1000").json().getJsonArray("callbacks");
      return list.stream().anyMatch(c -> hostileId.equals(((JsonObject) c).getString("run_id")));
    });

    openConsole("#callbacks");
    signIn(TOKEN);
    visible("view-callbacks");
    driver.findElement(By.id("cb-run-id")).sendKeys(hostileId);
    driver.findElement(By.id("cb-search")).click();
    wait.until(d -> d.findElements(By.cssSelector("#callbacks-body tr")).size() == 1
      && hostileId.equals(d.findElement(By.cssSelector("#callbacks-body tr")).getDomAttribute("data-run-id")));
    WebElement cell = driver.findElement(By.cssSelector("#callbacks-body tr td[data-col='run'] .run-id"));
    assertEquals(hostileId, cell.getText());
    driver.findElement(By.cssSelector("#callbacks-body tr")).click();
    wait.until(d -> attempts(d).size() == 1);
    assertEquals(hostileId, text("timeline-run-id"));
    WebElement excerpt = driver.findElement(By.cssSelector("#timeline-attempts pre[data-col='excerpt']"));
    assertEquals(hostileBody, excerpt.getText());
    // Beside it, the headers the receiver got, without the signature.
    Object webhookId = callbackd.sql.one("SELECT webhook_id FROM callbackd.deliveries WHERE run_id = ?", hostileId)
      .get("webhook_id");
    String headers = driver.findElement(By.cssSelector("#timeline-attempts pre[data-col='headers']")).getText();
    assertTrue(headers.contains("webhook-id: " + webhookId), headers);
    assertTrue(headers.contains("content-type: application/json"), headers);
    assertFalse(headers.contains("webhook-signature"), headers);

    assertTrue(driver.findElements(By.cssSelector("#app img, #app script, #app b")).isEmpty(),
      "server text became markup");
    assertNull(((JavascriptExecutor) driver).executeScript("return window.__pwned === undefined ? null : 1"));
    assertNoScriptErrors();
  }

  // ------------------------------------------------------------------ formatting

  @Test
  void theConsoleFormatsDurations() {
    openConsole("");
    visible("login-view");
    assertEquals("4 min 5 s", ((JavascriptExecutor) driver)
      .executeScript("return window.callbackdConsole.formatDuration(245)"));
  }

  @Test
  void theConsoleLoadsNothingFromElsewhere() throws IOException {
    for (String file : List.of("index.html", "app.js", "console.css")) {
      String text;
      try (InputStream in = getClass().getClassLoader().getResourceAsStream("webroot/" + file)) {
        assertNotNull(in, "webroot/" + file + " on the classpath");
        text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
      }
      String withoutSvgNamespace = text.replace("http://www.w3.org/2000/svg", "");
      assertFalse(Pattern.compile("(?i)(https?:)?//[a-z0-9.-]+\\.[a-z]{2,}/").matcher(withoutSvgNamespace).find(),
        file + " refers to another host");
      assertFalse(text.contains("@import") || text.contains("@font-face"), file + " imports styles or fonts");
      assertFalse(text.contains("innerHTML") || text.contains("outerHTML") || text.contains("insertAdjacentHTML")
        || text.contains("document.write"), file + " writes markup from strings");
    }
  }

  // ------------------------------------------------------------------ where it is served

  @Test
  void theConsoleIsServedAtSlashConsole() throws Exception {
    HttpClient http = HttpClient.newHttpClient();
    HttpResponse<String> bare = http.send(HttpRequest.newBuilder(URI.create(base + "/console")).build(),
      HttpResponse.BodyHandlers.ofString());
    assertEquals(302, bare.statusCode(), "GET /console");
    assertSecurityHeaders(bare, "GET /console");
    assertEquals(Optional.of("/console/"), bare.headers().firstValue("location"), "GET /console redirects");
    HttpResponse<String> index = http.send(HttpRequest.newBuilder(URI.create(base + "/console/")).build(),
      HttpResponse.BodyHandlers.ofString());
    assertEquals(200, index.statusCode(), "GET /console/ must serve index.html, not " + index.statusCode() + " "
      + index.headers().firstValue("location").map(l -> "to " + l).orElse("") + " " + index.body());
    assertTrue(index.headers().firstValue("content-type").orElse("").startsWith("text/html"));
    assertTrue(index.body().contains("id=\"login-form\""), index.body());
    assertSecurityHeaders(index, "GET /console/");
    assertFalse(index.body().contains("http-equiv"), "the policy comes as a header, which can forbid framing");
    for (String asset : List.of("/console/app.js", "/console/console.css")) {
      HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + asset)).build(),
        HttpResponse.BodyHandlers.ofString());
      assertEquals(200, r.statusCode(), asset);
      assertSecurityHeaders(r, asset);
    }
  }

  /** The console's policy as a header: its own scripts, styles and API only, and never in a frame. */
  private static void assertSecurityHeaders(HttpResponse<String> r, String what) {
    assertEquals(Optional.of("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
      + "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
      r.headers().firstValue("content-security-policy"), what);
    assertEquals(Optional.of("nosniff"), r.headers().firstValue("x-content-type-options"), what);
    assertEquals(Optional.of("no-referrer"), r.headers().firstValue("referrer-policy"), what);
    assertEquals(Optional.of("DENY"), r.headers().firstValue("x-frame-options"), what);
  }

  @Test
  void aPageOfAnotherOriginCannotFrameTheConsole() {
    String framer = "http://127.0.0.1:" + framingSite.actualPort() + "/";
    driver.get(framer);
    JavascriptExecutor js = (JavascriptExecutor) driver;
    wait.until(d -> Boolean.TRUE.equals(js.executeScript("return window.ownLoaded === true")));
    // The control: the site's own page shows in its frame.
    driver.switchTo().frame("own");
    assertEquals("framed", text("own-content"));
    driver.switchTo().defaultContent();
    // Chromium refuses the console's frame and says why.
    List<String> messages = new java.util.ArrayList<>();
    wait.until(d -> {
      messages.addAll(chromium.severeMessages());
      return messages.stream().anyMatch(m -> m.contains("frame-ancestors 'none'"));
    });
    driver.switchTo().frame("console");
    assertTrue(driver.findElements(By.id("login-form")).isEmpty(), "the console loaded in the frame of " + framer);
    assertTrue(driver.findElements(By.id("app")).isEmpty(), "the console loaded in the frame of " + framer);
    assertFalse(driver.getPageSource().contains("callbackd console"), driver.getPageSource());
    driver.switchTo().defaultContent();
    // The same console opened directly works.
    openConsole("");
    visible("login-view");
  }

  // ------------------------------------------------------------------ helpers

  /** Opens the console the way an operator does: {@code /console}, redirected to {@code /console/}. */
  private void openConsole(String fragment) {
    String url = base + CONSOLE_ENTRY + fragment;
    driver.get(url);
    if (driver.findElements(By.id("login-form")).isEmpty()) {
      String shown = driver.findElement(By.tagName("body")).getText().replace("\n", " / ");
      throw new AssertionError("the console did not load from " + url + " (see theConsoleIsServedAtSlashConsole);"
        + " the browser shows " + driver.getCurrentUrl() + ": " + shown.substring(0, Math.min(300, shown.length())));
    }
    assertTrue(driver.getCurrentUrl().startsWith(base + "/console/"), driver.getCurrentUrl());
  }

  private static void awaitState(String runId, String state) {
    Await.until(runId + " " + state, WAIT, () -> state.equals(callbackd.callbackState(runId)));
  }

  private static boolean paused(String origin) {
    JsonArray list = callbackd.get("/v1/destinations").json().getJsonArray("destinations");
    for (int i = 0; i < list.size(); i++) {
      JsonObject d = list.getJsonObject(i);
      if (origin.equals(d.getString("destination"))) {
        return Boolean.TRUE.equals(d.getBoolean("paused"));
      }
    }
    throw new AssertionError(origin + " is not in " + list.encode());
  }

  private void signIn(String token) {
    WebElement field = visible("login-token");
    field.clear();
    field.sendKeys(token);
    driver.findElement(By.id("login-submit")).click();
    if (TOKEN.equals(token)) {
      wait.until(ExpectedConditions.visibilityOfElementLocated(By.id("app")));
    }
  }

  private String storedToken() {
    return (String) ((JavascriptExecutor) driver).executeScript(
      "return sessionStorage.getItem('callbackd.console.token')");
  }

  private WebElement visible(String id) {
    try {
      return wait.until(ExpectedConditions.visibilityOfElementLocated(By.id(id)));
    } catch (TimeoutException e) {
      String page = driver.getPageSource();
      throw new AssertionError("#" + id + " is not visible on " + driver.getCurrentUrl() + "; the page: "
        + (page.length() > 2000 ? page.substring(0, 2000) + "..." : page), e);
    }
  }

  private String text(String id) {
    return text(driver, id);
  }

  private static String text(WebDriver d, String id) {
    return d.findElement(By.id(id)).getText();
  }

  private long number(String id) {
    return Math.round(Double.parseDouble(driver.findElement(By.id(id)).getDomAttribute("data-value")));
  }

  private static List<WebElement> attempts(WebDriver d) {
    return d.findElements(By.cssSelector("#timeline-attempts li"));
  }

  private void shot(String view) {
    Path file = chromium.screenshot(view);
    assertTrue(file.toFile().length() > 10_000, file + " looks empty");
  }

  /** Every resource the page loaded came from callbackd itself. */
  private void assertEverythingCameFromCallbackd() {
    @SuppressWarnings("unchecked")
    List<String> loaded = (List<String>) ((JavascriptExecutor) driver).executeScript(
      "return performance.getEntriesByType('resource').map(function (e) { return e.name; })");
    for (String url : loaded) {
      assertTrue(url.startsWith(base + "/") || url.startsWith("data:"), "loaded from elsewhere: " + url);
    }
  }

  /** No script error or CSP violation; failed API calls the test provoked (401, 400) are expected. */
  private void assertNoScriptErrors() {
    List<String> severe = chromium.severeMessages().stream()
      .filter(m -> !m.contains("Failed to load resource"))
      .toList();
    assertTrue(severe.isEmpty(), "browser console errors: " + severe);
  }
}
