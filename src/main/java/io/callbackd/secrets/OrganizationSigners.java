package io.callbackd.secrets;

import io.callbackd.webhook.CallbackSigner;
import io.callbackd.webhook.SecretsCipher;
import io.callbackd.webhook.SecretsCipher.Sealed;
import io.vertx.core.Future;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Which signer signs a callback: its organization's secrets when it has some, else the deployment's
 * ({@code CALLBACKD_SIGNING_SECRETS}). One per dispatcher, used only on its event loop (not thread-safe).
 *
 * <p>What an organization has is read from PostgreSQL once and kept for at most {@link #TTL}. A change made through
 * any replica reaches every dispatcher sooner: the changing transaction sends a NOTIFY, which each replica turns into
 * a message on {@link #CHANGED_ADDRESS}, and {@link #forget(String)} drops the entry. The time limit covers
 * notifications lost while a LISTEN connection was down (a reconnection drops every entry too).
 */
public final class OrganizationSigners {

  /** Local publish: an organization's secrets changed (body: its id), or possibly anyone's (no body). */
  public static final String CHANGED_ADDRESS = "callbackd.signing_secrets.changed";

  /** Tells this replica's dispatchers (only: other replicas hear the NOTIFY) that {@code organizationId}'s changed. */
  public static void changed(io.vertx.core.Vertx vertx, String organizationId) {
    vertx.eventBus().publish(CHANGED_ADDRESS, organizationId,
      new io.vertx.core.eventbus.DeliveryOptions().setLocalOnly(true));
  }
  /** Longest an organization's secrets are used after a change whose notification was lost. */
  public static final Duration TTL = Duration.ofSeconds(10);
  /** Past this many organizations cached, the cache starts over: memory stays bounded whatever the tenants. */
  static final int MAX_CACHED = 10_000;

  private record Entry(CallbackSigner signer, long loadedAtNanos) {
  }

  private final SigningSecretStore store;
  private final SecretsCipher cipher;
  private final CallbackSigner deployment;
  private final long ttlNanos;
  private final Map<String, Entry> cached = new HashMap<>();
  private final Map<String, Future<CallbackSigner>> loading = new HashMap<>();
  private long changes;

  public OrganizationSigners(SigningSecretStore store, SecretsCipher cipher, CallbackSigner deployment) {
    this(store, cipher, deployment, TTL);
  }

  OrganizationSigners(SigningSecretStore store, SecretsCipher cipher, CallbackSigner deployment, Duration ttl) {
    this.store = store;
    this.cipher = cipher;
    this.deployment = deployment;
    this.ttlNanos = ttl.toNanos();
  }

  /**
   * The signer of a callback of {@code organizationId} (null or blank: the deployment's). Fails when the
   * organization's secrets cannot be read or decrypted and none were read before: such a callback is never signed
   * with other secrets.
   */
  public Future<CallbackSigner> signerFor(String organizationId) {
    if (organizationId == null || organizationId.isBlank()) {
      return Future.succeededFuture(deployment);
    }
    Entry entry = cached.get(organizationId);
    if (entry != null && System.nanoTime() - entry.loadedAtNanos < ttlNanos) {
      return Future.succeededFuture(entry.signer);
    }
    Future<CallbackSigner> pending = loading.get(organizationId);
    if (pending != null) {
      return pending;
    }
    long changesBefore = changes;
    // Kept from when the read started: what it reads is at least that recent, so no entry outlives a change by more
    // than the time limit, even when the change's notification is lost.
    long readAt = System.nanoTime();
    Future<CallbackSigner> load = store.sealed(organizationId).map(sealed -> signer(organizationId, sealed));
    loading.put(organizationId, load);
    return load.transform(ar -> {
      loading.remove(organizationId, load);
      if (ar.succeeded()) {
        // A change that arrived while reading may not be in what was read: used this once, not kept.
        if (changesBefore == changes) {
          if (cached.size() >= MAX_CACHED) {
            cached.clear();
          }
          cached.put(organizationId, new Entry(ar.result(), readAt));
        }
        return Future.succeededFuture(ar.result());
      }
      // PostgreSQL unreachable for a moment: what was read last is still the best knowledge.
      return entry != null ? Future.succeededFuture(entry.signer) : Future.failedFuture(ar.cause());
    });
  }

  private CallbackSigner signer(String organizationId, List<Sealed> sealed) {
    if (sealed.isEmpty()) {
      return deployment;
    }
    List<byte[]> keys = new ArrayList<>(sealed.size());
    for (Sealed s : sealed) {
      keys.add(cipher.open(organizationId, s));
    }
    return CallbackSigner.ofKeys(keys);
  }

  /** Drops what is known of {@code organizationId} (null: of every organization). */
  public void forget(String organizationId) {
    changes++;
    if (organizationId == null || organizationId.isEmpty()) {
      cached.clear();
      loading.clear();
    } else {
      cached.remove(organizationId);
      loading.remove(organizationId);
    }
  }
}
