package io.callbackd.api;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

class ApiTokenAuthTest {

  @Test
  void theBearerSchemeInAnyCaseGivesItsToken() {
    assertEquals("t0k", ApiTokenAuth.bearerToken("Bearer t0k"));
    assertEquals("t0k", ApiTokenAuth.bearerToken("bearer t0k"));
    assertEquals("t0k", ApiTokenAuth.bearerToken("BEARER   t0k "));
    assertEquals("t0k", ApiTokenAuth.bearerToken("Bearer\tt0k"));
  }

  @Test
  void anEmptyTokenIsEmpty() {
    assertEquals("", ApiTokenAuth.bearerToken("Bearer"));
    assertEquals("", ApiTokenAuth.bearerToken("Bearer "));
    assertEquals("", ApiTokenAuth.bearerToken("Bearer    "));
  }

  @Test
  void otherSchemesHaveNoBearerToken() {
    assertNull(ApiTokenAuth.bearerToken("Basic dXNlcjpwYXNz"));
    assertNull(ApiTokenAuth.bearerToken("BearerT0k"));
    assertNull(ApiTokenAuth.bearerToken("t0k"));
    assertNull(ApiTokenAuth.bearerToken("Digest username=\"x\""));
    assertNull(ApiTokenAuth.bearerToken(""));
  }
}
