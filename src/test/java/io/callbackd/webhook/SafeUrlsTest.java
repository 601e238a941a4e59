package io.callbackd.webhook;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

class SafeUrlsTest {

  @Test
  void nullStaysNull() {
    assertNull(SafeUrls.forLog(null));
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
    "https://hooks.example.com/cb | https://hooks.example.com/cb",
    "http://hooks.example.com:8080/a/b | http://hooks.example.com:8080/a/b",
    "https://hooks.example.com | https://hooks.example.com",
    "https://hooks.example.com/cb?token=s3cret | https://hooks.example.com/cb?…",
    "https://hooks.example.com/cb?a=1&token=s3cret#frag | https://hooks.example.com/cb?…",
    "https://alice:s3cret@hooks.example.com/cb | https://hooks.example.com/cb",
    "https://alice:s3cret@hooks.example.com:8443/cb?token=s3cret | https://hooks.example.com:8443/cb?…",
    "https://alice@hooks.example.com/cb | https://hooks.example.com/cb",
    "http://[::1]:9000/cb?x=s3cret | http://[::1]:9000/cb?…",
  })
  void keepsSchemeHostPortAndPathOnly(String url, String expected) {
    assertEquals(expected, SafeUrls.forLog(url));
  }

  @Test
  void unparseableUrlIsStillStrippedOfQueryAndUserInfo() {
    // The space makes java.net.URI refuse it, so the fallback path is taken.
    assertEquals("https://hooks.example.com/a b?…", SafeUrls.forLog("https://alice:s3cret@hooks.example.com/a b?token=s3cret"));
  }

  @ParameterizedTest
  @ValueSource(strings = {
    "https://hooks.example.com/cb?token=s3cret",
    "https://alice:s3cret@hooks.example.com/cb",
    "https://u:s3cret@hooks.example.com/x y?token=s3cret",
    "https://hooks.example.com/x y?token=s3cret",
    "https://u:s3cret@exa_mple.com/cb",
    "https://hooks.example.com/cb#s3cret",
  })
  void secretsInQueryOrUserInfoNeverAppear(String url) {
    String logged = SafeUrls.forLog(url);
    assertFalse(logged.contains("s3cret"), logged);
    assertFalse(logged.contains("alice"), logged);
  }
}
