package io.callbackd.database;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import static org.junit.jupiter.api.Assertions.assertEquals;

class EmbeddedPostgresModeTest {

  @ParameterizedTest(name = "uid {0}, user namespace {1}, account {2} -> {3}")
  @CsvSource({
    // Not root: nothing changes, whatever the system allows.
    "1000,  false, false, AS_CALLBACKD_USER",
    "1000,  true,  true,  AS_CALLBACKD_USER",
    "65534, false, true,  AS_CALLBACKD_USER",
    // Root: a user namespace first, as the library does by itself.
    "0,     true,  false, USER_NAMESPACE",
    "0,     true,  true,  USER_NAMESPACE",
    // Root where unshare is forbidden: the unprivileged account, or a refusal saying what to do.
    "0,     false, true,  UNPRIVILEGED_ACCOUNT",
    "0,     false, false, REFUSED",
  })
  void theWayDependsOnRootThenUserNamespacesThenTheAccount(long uid, boolean userNamespace, boolean account,
                                                            EmbeddedPostgresMode expected) {
    assertEquals(expected, EmbeddedPostgresMode.decide(uid, userNamespace, account));
  }
}
