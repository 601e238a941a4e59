package io.callbackd.webhook;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Base64;
import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** AES-256-GCM at rest for organizations' signing secrets, and how secrets given for an organization are checked. */
class SecretsCipherTest {

  private static final String KEY = Base64.getEncoder().encodeToString(bytes(32, 1));
  private static final String OTHER_KEY = Base64.getEncoder().encodeToString(bytes(32, 2));
  private static final byte[] SECRET = "an-organization-secret-32-bytes!".getBytes(StandardCharsets.US_ASCII);

  private static byte[] bytes(int n, int seed) {
    byte[] b = new byte[n];
    for (int i = 0; i < n; i++) {
      b[i] = (byte) (seed * 31 + i);
    }
    return b;
  }

  @Test
  void sealsWithAFreshNonceAndOpensOnlyForTheSameOrganization() {
    SecretsCipher cipher = SecretsCipher.fromConfig(KEY, null);
    SecretsCipher.Sealed a = cipher.seal("org-1", SECRET);
    SecretsCipher.Sealed b = cipher.seal("org-1", SECRET);
    assertEquals(12, a.nonce().length);
    assertFalse(java.util.Arrays.equals(a.nonce(), b.nonce()), "a random nonce per secret");
    assertFalse(java.util.Arrays.equals(a.ciphertext(), b.ciphertext()));
    assertArrayEquals(SECRET, cipher.open("org-1", a));
    assertThrows(IllegalArgumentException.class, () -> cipher.open("org-2", a), "the organization is associated data");
    byte[] altered = a.ciphertext().clone();
    altered[0] ^= 1;
    assertThrows(IllegalArgumentException.class,
      () -> cipher.open("org-1", new SecretsCipher.Sealed(a.keyId(), a.nonce(), altered)));
  }

  @Test
  void thePreviousKeyOnlyOpensAndAnUnknownKeyIsNamed() {
    SecretsCipher old = SecretsCipher.fromConfig(OTHER_KEY, null);
    SecretsCipher.Sealed underOld = old.seal("org-1", SECRET);
    SecretsCipher rotating = SecretsCipher.fromConfig(KEY, OTHER_KEY);
    assertTrue(rotating.canOpen(underOld.keyId()));
    assertArrayEquals(SECRET, rotating.open("org-1", underOld));
    SecretsCipher.Sealed resealed = rotating.seal("org-1", SECRET);
    assertEquals(rotating.currentKeyId(), resealed.keyId());
    assertNotEquals(underOld.keyId(), resealed.keyId());
    IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class,
      () -> SecretsCipher.fromConfig(KEY, null).open("org-1", underOld));
    assertTrue(unknown.getMessage().contains("secrets_key"), unknown.getMessage());
  }

  @Test
  void withoutAKeyNothingCanBeSealed() {
    SecretsCipher none = SecretsCipher.fromConfig("", "");
    assertFalse(none.canSeal());
    assertThrows(IllegalStateException.class, () -> none.seal("org-1", SECRET));
  }

  @Test
  void malformedKeysAreRefusedWithoutQuotingThem() {
    String shortKey = Base64.getEncoder().encodeToString(bytes(16, 3));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
      () -> SecretsCipher.fromConfig(shortKey, null));
    assertTrue(e.getMessage().startsWith("secrets_key must be 32 bytes"), e.getMessage());
    assertFalse(e.getMessage().contains(shortKey));
    IllegalArgumentException notBase64 = assertThrows(IllegalArgumentException.class,
      () -> SecretsCipher.fromConfig(KEY, "not*base64*key"));
    assertTrue(notBase64.getMessage().startsWith("secrets_key_previous"), notBase64.getMessage());
    assertFalse(notBase64.getMessage().contains("not*base64"));
    assertThrows(IllegalArgumentException.class, () -> SecretsCipher.fromConfig("", OTHER_KEY),
      "a previous key without a current one");
  }

  @Test
  void organizationSecretsAreStandardWebhooksSecretsOf24To64Bytes() {
    byte[] key = bytes(32, 4);
    assertArrayEquals(key, CallbackSigner.organizationKey("whsec_" + Base64.getEncoder().encodeToString(key)));
    CallbackSigner.organizationKey("whsec_" + Base64.getEncoder().encodeToString(bytes(24, 5)));
    CallbackSigner.organizationKey("whsec_" + Base64.getEncoder().encodeToString(bytes(64, 5)));
    for (String bad : new String[] {"", "whsec_", "whsec_" + Base64.getEncoder().encodeToString(bytes(23, 5)),
      "whsec_" + Base64.getEncoder().encodeToString(bytes(65, 5)), "whsec_***",
      Base64.getEncoder().encodeToString(key)}) {
      assertThrows(IllegalArgumentException.class, () -> CallbackSigner.organizationKey(bad), bad);
    }
  }

  @Test
  void theFingerprintIsTheFirstEightBytesOfTheKeysSha256InHex() throws Exception {
    byte[] key = bytes(32, 6);
    String expected = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(key)).substring(0, 16);
    assertEquals(expected, CallbackSigner.fingerprint(key));
  }
}
