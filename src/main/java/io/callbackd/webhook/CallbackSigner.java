package io.callbackd.webhook;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Signs callback requests the Standard Webhooks way (https://www.standardwebhooks.com), so receivers can use any
 * off-the-shelf verifier.
 *
 * <p>Each request carries {@code webhook-id}, {@code webhook-timestamp} and {@code webhook-signature}. The signature is
 * an HMAC-SHA256 over {@code "<id>.<timestamp>.<body>"}: binding the id and timestamp lets receivers reject replays and
 * stale deliveries, not just forged bodies.
 *
 * <p>Several secrets may be configured, newest first, to rotate without downtime: every request is signed with each
 * of them, so a receiver still holding the old secret keeps verifying while it moves to the new one.
 *
 * <p>Instances are immutable and thread-safe: the keys are never mutated and a fresh {@link Mac} is made per call,
 * because {@code Mac} objects themselves are stateful.
 */
public final class CallbackSigner {

  /** Config key of the secret list, named in error messages so operators know what to fix. */
  public static final String CONFIG_KEY = "signing_secrets";

  public static final String HEADER_ID = "webhook-id";
  public static final String HEADER_TIMESTAMP = "webhook-timestamp";
  public static final String HEADER_SIGNATURE = "webhook-signature";

  private static final String SECRET_PREFIX = "whsec_";
  private static final String HMAC_ALGORITHM = "HmacSHA256";
  private static final String SIGNATURE_VERSION = "v1,";

  /** Shortest and longest key accepted per organization, in bytes: the Standard Webhooks specification's range. */
  public static final int MIN_ORGANIZATION_KEY_BYTES = 24;
  public static final int MAX_ORGANIZATION_KEY_BYTES = 64;

  /** Newest first; the order of the signatures in the header follows it. */
  private final List<SecretKeySpec> keys;

  private CallbackSigner(List<SecretKeySpec> keys) {
    this.keys = List.copyOf(keys);
  }

  /**
   * Parses the {@code signing_secrets} setting: comma-separated {@code whsec_<base64 key>} entries, newest first.
   * A null or blank value yields a signer that adds no signature (see {@link #isEnabled()}).
   *
   * @throws IllegalArgumentException for a malformed entry; the message gives the entry's 1-based position but never
   *     any part of the entry, since it would otherwise end up in logs.
   */
  public static CallbackSigner fromConfig(String commaSeparatedSecrets) {
    if (commaSeparatedSecrets == null || commaSeparatedSecrets.isBlank()) {
      return new CallbackSigner(List.of());
    }
    // limit -1 keeps trailing empty entries, so "whsec_a," is reported rather than silently accepted.
    String[] entries = commaSeparatedSecrets.split(",", -1);
    List<SecretKeySpec> keys = new ArrayList<>(entries.length);
    for (int i = 0; i < entries.length; i++) {
      keys.add(parseSecret(entries[i].strip(), i + 1));
    }
    return new CallbackSigner(keys);
  }

  /**
   * A signer with these keys (raw HMAC keys, newest first), as stored per organization. An empty list yields a signer
   * that adds no signature.
   */
  public static CallbackSigner ofKeys(List<byte[]> keys) {
    List<SecretKeySpec> specs = new ArrayList<>(keys.size());
    for (byte[] key : keys) {
      if (key.length == 0) {
        throw new IllegalArgumentException("an empty signing key");
      }
      specs.add(new SecretKeySpec(key, HMAC_ALGORITHM));
    }
    return new CallbackSigner(specs);
  }

  /**
   * Checks one {@code whsec_<base64>} secret given for an organization, as {@code signing_secrets} entries are
   * checked, and also its length: 24 to 64 bytes of key, as the Standard Webhooks specification asks. Returns the key.
   *
   * @throws IllegalArgumentException saying what is wrong, never quoting any part of the secret
   */
  public static byte[] organizationKey(String secret) {
    if (secret == null || secret.isBlank()) {
      throw new IllegalArgumentException("it is empty");
    }
    String entry = secret.strip();
    if (!entry.startsWith(SECRET_PREFIX)) {
      throw new IllegalArgumentException("it must start with " + SECRET_PREFIX);
    }
    byte[] key;
    try {
      key = Base64.getDecoder().decode(entry.substring(SECRET_PREFIX.length()));
    } catch (IllegalArgumentException e) {
      // The decoder's message quotes the offending character: deliberately not chained.
      throw new IllegalArgumentException("the part after " + SECRET_PREFIX + " is not valid base64");
    }
    if (key.length < MIN_ORGANIZATION_KEY_BYTES || key.length > MAX_ORGANIZATION_KEY_BYTES) {
      throw new IllegalArgumentException("the key after " + SECRET_PREFIX + " must be " + MIN_ORGANIZATION_KEY_BYTES
        + " to " + MAX_ORGANIZATION_KEY_BYTES + " bytes once base64-decoded, got " + key.length);
    }
    return key;
  }

  /**
   * How a key is shown to operators instead of the key: the first 8 bytes of the SHA-256 of the raw key (the bytes
   * after {@code whsec_}, base64-decoded), as 16 lower-case hex digits. Too short to help guess the key, long enough
   * to tell secrets apart.
   */
  public static String fingerprint(byte[] key) {
    try {
      byte[] digest = MessageDigest.getInstance("SHA-256").digest(key);
      StringBuilder hex = new StringBuilder(16);
      for (int i = 0; i < 8; i++) {
        hex.append(Character.forDigit((digest[i] >> 4) & 0xf, 16)).append(Character.forDigit(digest[i] & 0xf, 16));
      }
      return hex.toString();
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is missing from this JVM", e);
    }
  }

  private static SecretKeySpec parseSecret(String entry, int position) {
    if (entry.isEmpty()) {
      throw malformed(position, "it is empty");
    }
    if (!entry.startsWith(SECRET_PREFIX)) {
      throw malformed(position, "it must start with " + SECRET_PREFIX);
    }
    byte[] key;
    try {
      key = Base64.getDecoder().decode(entry.substring(SECRET_PREFIX.length()));
    } catch (IllegalArgumentException e) {
      // The decoder's message quotes the offending character: deliberately not chained.
      throw malformed(position, "the part after " + SECRET_PREFIX + " is not valid base64");
    }
    if (key.length == 0) {
      throw malformed(position, "the key after " + SECRET_PREFIX + " is empty");
    }
    return new SecretKeySpec(key, HMAC_ALGORITHM);
  }

  private static IllegalArgumentException malformed(int position, String problem) {
    return new IllegalArgumentException(
        CONFIG_KEY + ": entry " + position + " is malformed: " + problem
            + " (expected " + SECRET_PREFIX + "<base64 key>, comma-separated, newest first)");
  }

  /**
   * Builds the Standard Webhooks headers for one delivery attempt, in the order id, timestamp, signature.
   *
   * @param webhookId the message id; stays the same across retries of one callback so receivers can deduplicate.
   *     Must be non-blank visible ASCII, since it is both a header value and part of the signed content.
   * @param unixSeconds the send time in seconds since the epoch; receivers reject timestamps far from their clock.
   * @param body the exact bytes that will be sent; signing anything else (e.g. re-serialised JSON) would not verify.
   * @return {@code webhook-id}, {@code webhook-timestamp} and, when enabled, {@code webhook-signature} holding one
   *     space-separated {@code v1,<base64>} per secret, newest first.
   */
  public Map<String, String> headers(String webhookId, long unixSeconds, byte[] body) {
    requireValidId(webhookId);
    Objects.requireNonNull(body, "body");
    if (unixSeconds < 0) {
      throw new IllegalArgumentException("unixSeconds must not be negative: " + unixSeconds);
    }
    String timestamp = Long.toString(unixSeconds);

    Map<String, String> headers = new LinkedHashMap<>();
    headers.put(HEADER_ID, webhookId);
    headers.put(HEADER_TIMESTAMP, timestamp);
    if (isEnabled()) {
      headers.put(HEADER_SIGNATURE, signatures(webhookId, timestamp, body));
    }
    return headers;
  }

  private String signatures(String webhookId, String timestamp, byte[] body) {
    byte[] signedPrefix = (webhookId + "." + timestamp + ".").getBytes(StandardCharsets.UTF_8);
    Base64.Encoder base64 = Base64.getEncoder();
    StringBuilder header = new StringBuilder(keys.size() * 48);
    try {
      Mac mac = Mac.getInstance(HMAC_ALGORITHM);
      for (SecretKeySpec key : keys) {
        mac.init(key);
        mac.update(signedPrefix);
        byte[] digest = mac.doFinal(body);
        if (header.length() > 0) {
          header.append(' ');
        }
        header.append(SIGNATURE_VERSION).append(base64.encodeToString(digest));
      }
    } catch (GeneralSecurityException e) {
      // HmacSHA256 is mandatory in every JDK and the keys are validated up front, so this is a broken runtime.
      throw new IllegalStateException("HMAC-SHA256 signing failed", e);
    }
    return header.toString();
  }

  private static void requireValidId(String webhookId) {
    Objects.requireNonNull(webhookId, "webhookId");
    if (webhookId.isEmpty()) {
      throw new IllegalArgumentException("webhookId must not be empty");
    }
    for (int i = 0; i < webhookId.length(); i++) {
      char c = webhookId.charAt(i);
      if (c < 0x21 || c > 0x7e) {
        throw new IllegalArgumentException("webhookId must be visible ASCII without spaces");
      }
    }
  }

  /** Number of configured secrets, which is also the number of signatures per request. */
  public int secretCount() {
    return keys.size();
  }

  /** False when no secret is configured: requests then carry id and timestamp but no signature. */
  public boolean isEnabled() {
    return !keys.isEmpty();
  }

  /** Only the secret count: this object ends up in logs and must not leak key material. */
  @Override
  public String toString() {
    return "CallbackSigner[secrets=" + keys.size() + "]";
  }
}
