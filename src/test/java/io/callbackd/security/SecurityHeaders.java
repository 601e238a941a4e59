package io.callbackd.security;

import java.net.http.HttpHeaders;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The security headers every response of callbackd carries, as a client sees them. */
final class SecurityHeaders {

  private SecurityHeaders() {
  }

  static void assertPresent(HttpHeaders headers, String what) {
    String csp = headers.firstValue("content-security-policy").orElse("");
    assertTrue(csp.contains("frame-ancestors 'none'"), "Content-Security-Policy of " + what);
    assertTrue(csp.contains("default-src 'none'"), "Content-Security-Policy of " + what);
    assertEquals("nosniff", headers.firstValue("x-content-type-options").orElse(null), what);
    assertEquals("no-referrer", headers.firstValue("referrer-policy").orElse(null), what);
    assertEquals("DENY", headers.firstValue("x-frame-options").orElse(null), what);
    assertEquals(1, headers.allValues("content-security-policy").size(), "one policy on " + what);
  }
}
