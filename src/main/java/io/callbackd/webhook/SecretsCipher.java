package io.callbackd.webhook;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Map;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * Encrypts signing secrets at rest: AES-256-GCM under {@code secrets_key}, a random 12-byte nonce per secret, and the
 * organization id as associated data, so a secret copied onto another organization's row does not decrypt.
 *
 * <p>Every sealed secret records the id of the key that sealed it (see {@link #keyId(byte[])}). The current key seals
 * and opens; {@code secrets_key_previous}, when set, only opens, so that secrets sealed under it can be read and sealed
 * again under the current key. Without a current key nothing can be sealed ({@link #canSeal()} is false): secrets are
 * never stored in plain text.
 *
 * <p>Immutable and thread-safe: a fresh {@link Cipher} is made per call.
 */
public final class SecretsCipher {

  public static final String KEY_CONFIG = "secrets_key";
  public static final String PREVIOUS_KEY_CONFIG = "secrets_key_previous";
  public static final int NONCE_BYTES = 12;
  private static final int KEY_BYTES = 32;
  private static final int TAG_BITS = 128;
  private static final String TRANSFORMATION = "AES/GCM/NoPadding";
  private static final SecureRandom RANDOM = new SecureRandom();

  /** A secret as stored: the id of the key that sealed it, its nonce, and the ciphertext with GCM's tag. */
  public record Sealed(String keyId, byte[] nonce, byte[] ciphertext) {
  }

  private final String currentId;
  /** Every key that opens, by id: the current one first. */
  private final Map<String, SecretKeySpec> keys;

  private SecretsCipher(String currentId, Map<String, SecretKeySpec> keys) {
    this.currentId = currentId;
    this.keys = Map.copyOf(keys);
  }

  /**
   * Builds the cipher from the two settings: each empty, or 32 bytes in base64. {@code previous} without
   * {@code current} is refused: it would leave nothing able to seal the secrets it opens.
   *
   * @throws IllegalArgumentException naming the setting at fault, never quoting the key
   */
  public static SecretsCipher fromConfig(String current, String previous) {
    Map<String, SecretKeySpec> keys = new LinkedHashMap<>();
    String currentId = null;
    if (current != null && !current.isBlank()) {
      byte[] key = decodeKey(KEY_CONFIG, current);
      currentId = keyId(key);
      keys.put(currentId, new SecretKeySpec(key, "AES"));
    }
    if (previous != null && !previous.isBlank()) {
      if (currentId == null) {
        throw new IllegalArgumentException(PREVIOUS_KEY_CONFIG + " is set but " + KEY_CONFIG + " is not: the previous "
          + "key only decrypts, secrets are re-encrypted under " + KEY_CONFIG);
      }
      byte[] key = decodeKey(PREVIOUS_KEY_CONFIG, previous);
      keys.putIfAbsent(keyId(key), new SecretKeySpec(key, "AES"));
    }
    return new SecretsCipher(currentId, keys);
  }

  private static byte[] decodeKey(String setting, String value) {
    byte[] key;
    try {
      key = Base64.getDecoder().decode(value.strip());
    } catch (IllegalArgumentException e) {
      // Not chained: the decoder's message quotes the key's characters.
      throw new IllegalArgumentException(setting + " must be 32 bytes in base64 (e.g. the output of "
        + "`head -c 32 /dev/urandom | base64`); it is not valid base64");
    }
    if (key.length != KEY_BYTES) {
      throw new IllegalArgumentException(setting + " must be 32 bytes in base64 (e.g. the output of "
        + "`head -c 32 /dev/urandom | base64`); it decodes to " + key.length + " bytes");
    }
    return key;
  }

  /** A key's id as stored beside what it sealed: its fingerprint, as signing keys are shown. */
  public static String keyId(byte[] key) {
    return CallbackSigner.fingerprint(key);
  }

  /** False without {@code secrets_key}: secrets cannot be stored. */
  public boolean canSeal() {
    return currentId != null;
  }

  /** The id of the key that seals, or null when there is none. */
  public String currentKeyId() {
    return currentId;
  }

  public boolean canOpen(String keyId) {
    return keys.containsKey(keyId);
  }

  /** Encrypts one secret of {@code organizationId} under the current key, with a fresh random nonce. */
  public Sealed seal(String organizationId, byte[] secret) {
    if (currentId == null) {
      throw new IllegalStateException(KEY_CONFIG + " is not set");
    }
    byte[] nonce = new byte[NONCE_BYTES];
    RANDOM.nextBytes(nonce);
    try {
      Cipher cipher = Cipher.getInstance(TRANSFORMATION);
      cipher.init(Cipher.ENCRYPT_MODE, keys.get(currentId), new GCMParameterSpec(TAG_BITS, nonce));
      cipher.updateAAD(organizationId.getBytes(StandardCharsets.UTF_8));
      return new Sealed(currentId, nonce, cipher.doFinal(secret));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("AES-GCM encryption failed", e);
    }
  }

  /**
   * Decrypts one secret of {@code organizationId}.
   *
   * @throws IllegalArgumentException when no configured key has that id, or when the ciphertext, nonce or
   *     organization do not match (GCM's tag fails)
   */
  public byte[] open(String organizationId, Sealed sealed) {
    SecretKeySpec key = keys.get(sealed.keyId());
    if (key == null) {
      throw new IllegalArgumentException("a signing secret of organization " + organizationId + " was encrypted under "
        + "key " + sealed.keyId() + ", which is neither " + KEY_CONFIG + " nor " + PREVIOUS_KEY_CONFIG);
    }
    try {
      Cipher cipher = Cipher.getInstance(TRANSFORMATION);
      cipher.init(Cipher.DECRYPT_MODE, key, new GCMParameterSpec(TAG_BITS, sealed.nonce()));
      cipher.updateAAD(organizationId.getBytes(StandardCharsets.UTF_8));
      return cipher.doFinal(sealed.ciphertext());
    } catch (GeneralSecurityException e) {
      throw new IllegalArgumentException("a signing secret of organization " + organizationId
        + " does not decrypt (altered, or stored for another organization)");
    }
  }

  /** Only whether keys are set: this object may end up in logs. */
  @Override
  public String toString() {
    return "SecretsCipher[current=" + (currentId != null) + ", keys=" + keys.size() + "]";
  }
}
