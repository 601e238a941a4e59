package io.callbackd.webhook;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A URL's check and split are remembered; the answers are the same whether remembered or not. */
class CallbackTargetTest {

  @Test
  void rememberedAnswersAreTheAnswers() {
    for (int round = 0; round < 3; round++) {
      assertEquals(new CallbackTarget(true, "example.com", 443, "/hook?a=1"), CallbackTarget.parse(
        "https://example.com/hook?a=1"));
      assertEquals(new CallbackTarget(false, "::1", 8080, "/"), CallbackTarget.parse("http://[::1]:8080"));
      assertNull(CallbackTarget.parse("ftp://example.com/"));
      assertTrue(CallbackTarget.problem("ftp://example.com/").contains("unsupported scheme ftp"));
      assertEquals("invalid callback_url: carries user-info (user:password@)",
        CallbackTarget.problem("https://u:p@example.com/"));
      assertNull(CallbackTarget.problem("https://example.com/hook?a=1"));
    }
  }

  @Test
  void manyDistinctUrlsAreAnsweredAlike() {
    for (int i = 0; i < 3_000; i++) {
      String url = "http://host-" + i + ".example:" + (1 + i % 65535) + "/p/" + i;
      assertEquals(new CallbackTarget(false, "host-" + i + ".example", 1 + i % 65535, "/p/" + i),
        CallbackTarget.parse(url));
      assertEquals("invalid callback_url: port is not a number between 1 and 65535",
        CallbackTarget.problem("http://host-" + i + ".example:" + (65536 + i) + "/"));
    }
    assertEquals("invalid callback_url: longer than 2048 characters",
      CallbackTarget.problem("https://example.com/" + "a".repeat(3000)));
  }

  @Test
  void theHostHeaderKeepsAnIpv6LiteralsBracketsAndLeavesOutADefaultPort() {
    assertEquals("[2001:db8::10]:8443", CallbackTarget.parse("https://[2001:db8::10]:8443/cb").hostHeader());
    assertEquals("[2001:db8::10]", CallbackTarget.parse("https://[2001:db8::10]/cb").hostHeader());
    assertEquals("[::1]:8080", CallbackTarget.parse("http://[::1]:8080/cb").hostHeader());
    assertEquals("example.com", CallbackTarget.parse("http://example.com:80/cb").hostHeader());
    assertEquals("example.com:8443", CallbackTarget.parse("https://example.com:8443/cb").hostHeader());
  }
}
