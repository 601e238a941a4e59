package io.callbackd.secrets;

import io.callbackd.webhook.SecretsCipher;
import io.callbackd.webhook.SecretsCipher.Sealed;
import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.RowSet;
import io.vertx.sqlclient.SqlConnection;
import io.vertx.sqlclient.Tuple;

import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * Every statement on {@code callbackd.signing_secrets}: organizations' signing secrets, newest first, stored only
 * encrypted ({@link SecretsCipher}). A change sends {@code NOTIFY callbackd_signing_secrets} with the organization id,
 * in the changing transaction, so every replica's dispatchers forget what they cached for it.
 */
public final class SigningSecretStore {

  /** The NOTIFY channel of changes; the payload is the organization id. */
  public static final String CHANNEL = "callbackd_signing_secrets";

  /** A secret as operators see it: its fingerprint and when it was first stored. */
  public record Listed(String fingerprint, OffsetDateTime addedAt) {
  }

  /** A secret to store: its fingerprint, and the key sealed for its organization. */
  public record NewSecret(String fingerprint, Sealed sealed) {
  }

  /** A stored secret, for re-encryption under a new key. */
  public record Stored(String organizationId, String fingerprint, Sealed sealed) {
  }

  /** What a start-up's re-encryption did: secrets re-encrypted, and organizations whose secrets no key opens. */
  public record Resealed(int resealed, List<String> unreadable) {
  }

  /*
   * Replaces an organization's list in one statement: secrets no longer listed are deleted, the others are written
   * at their new position, freshly encrypted; a secret already stored (same fingerprint) keeps its added_at.
   * $1 organization, $2 fingerprints in order, $3 key ids, $4 nonces, $5 ciphertexts.
   */
  static final String REPLACE = "WITH n AS (SELECT * FROM unnest($2::varchar[], $3::varchar[], $4::bytea[],"
    + " $5::bytea[]) WITH ORDINALITY AS n(fingerprint, key_id, nonce, ciphertext, position)),"
    + " dropped AS (DELETE FROM callbackd.signing_secrets s WHERE s.organization_id = $1"
    + " AND s.fingerprint <> ALL ($2::varchar[])),"
    + " written AS (INSERT INTO callbackd.signing_secrets (organization_id, fingerprint, position, key_id, nonce,"
    + " ciphertext) SELECT $1, n.fingerprint, n.position, n.key_id, n.nonce, n.ciphertext FROM n"
    + " ON CONFLICT (organization_id, fingerprint) DO UPDATE SET position = EXCLUDED.position,"
    + " key_id = EXCLUDED.key_id, nonce = EXCLUDED.nonce, ciphertext = EXCLUDED.ciphertext"
    + " RETURNING fingerprint, position, added_at),"
    + " notified AS (SELECT pg_notify('" + CHANNEL + "', $1))"
    + " SELECT w.fingerprint, w.added_at FROM written w CROSS JOIN notified ORDER BY w.position";

  /** Serializes the changes to one organization's list ($1), until the transaction ends. */
  static final String LOCK_ORGANIZATION = "SELECT pg_advisory_xact_lock('callbackd.signing_secrets'::regclass::oid::integer,"
    + " hashtext($1))";

  static final String LIST = "SELECT fingerprint, added_at FROM callbackd.signing_secrets WHERE organization_id = $1"
    + " ORDER BY position";

  static final String DELETE = "WITH d AS (DELETE FROM callbackd.signing_secrets WHERE organization_id = $1"
    + " RETURNING 1), notified AS (SELECT pg_notify('" + CHANNEL + "', $1))"
    + " SELECT (SELECT count(*) FROM d) AS deleted FROM notified";

  static final String SEALED = "SELECT key_id, nonce, ciphertext FROM callbackd.signing_secrets"
    + " WHERE organization_id = $1 ORDER BY position";

  /** Secrets not sealed under $1 (every secret when $1 is null): what a start-up re-encrypts. */
  static final String NOT_UNDER = "SELECT organization_id, fingerprint, key_id, nonce, ciphertext"
    + " FROM callbackd.signing_secrets WHERE key_id IS DISTINCT FROM $1 ORDER BY organization_id, position";

  /** Writes a secret re-encrypted, only if it is still the one read (same key id). */
  static final String RESEAL = "WITH r AS (UPDATE callbackd.signing_secrets SET key_id = $4, nonce = $5,"
    + " ciphertext = $6 WHERE organization_id = $1 AND fingerprint = $2 AND key_id = $3 RETURNING 1)"
    + " SELECT count(*) AS n FROM r";

  private final Pool pool;

  public SigningSecretStore(Pool pool) {
    this.pool = pool;
  }

  /** Replaces the organization's list; answers it as stored, newest first. */
  public Future<List<Listed>> replace(String organizationId, List<NewSecret> secrets) {
    int n = secrets.size();
    String[] fingerprints = new String[n];
    String[] keyIds = new String[n];
    Buffer[] nonces = new Buffer[n];
    Buffer[] ciphertexts = new Buffer[n];
    for (int i = 0; i < n; i++) {
      NewSecret s = secrets.get(i);
      fingerprints[i] = s.fingerprint();
      keyIds[i] = s.sealed().keyId();
      nonces[i] = Buffer.buffer(s.sealed().nonce());
      ciphertexts[i] = Buffer.buffer(s.sealed().ciphertext());
    }
    return oneAtATime(organizationId, conn -> conn.preparedQuery(REPLACE)
        .execute(Tuple.of(organizationId, fingerprints, keyIds, nonces, ciphertexts)))
      .map(SigningSecretStore::listed);
  }

  /** The organization's secrets, newest first; empty when it has none. */
  public Future<List<Listed>> list(String organizationId) {
    return pool.preparedQuery(LIST).execute(Tuple.of(organizationId)).map(SigningSecretStore::listed);
  }

  /** Removes the organization's list; false when it had none. */
  public Future<Boolean> delete(String organizationId) {
    return oneAtATime(organizationId, conn -> conn.preparedQuery(DELETE).execute(Tuple.of(organizationId)))
      .map(rows -> rows.iterator().next().getLong("deleted") > 0);
  }

  /**
   * {@code change} to the organization's list, after any other change to it in progress: two replacements at once,
   * each deleting only what its snapshot saw, would leave the union of both lists, and a removal beside a replacement
   * would keep what that one wrote. The lock comes first, in a statement of its own, so that the change's snapshot
   * sees what the one before it committed.
   */
  private Future<RowSet<Row>> oneAtATime(String organizationId, Function<SqlConnection, Future<RowSet<Row>>> change) {
    return pool.withTransaction(conn -> conn.preparedQuery(LOCK_ORGANIZATION).execute(Tuple.of(organizationId))
      .compose(locked -> change.apply(conn)));
  }

  /** The organization's secrets as stored (encrypted), newest first. */
  public Future<List<Sealed>> sealed(String organizationId) {
    return pool.preparedQuery(SEALED).execute(Tuple.of(organizationId)).map(rows -> {
      List<Sealed> out = new ArrayList<>(rows.size());
      for (Row row : rows) {
        out.add(sealed(row));
      }
      return out;
    });
  }

  /** Every secret not sealed under {@code keyId} (all of them when it is null). */
  public Future<List<Stored>> notSealedUnder(String keyId) {
    return pool.preparedQuery(NOT_UNDER).execute(Tuple.of(keyId)).map(rows -> {
      List<Stored> out = new ArrayList<>(rows.size());
      for (Row row : rows) {
        out.add(new Stored(row.getString("organization_id"), row.getString("fingerprint"), sealed(row)));
      }
      return out;
    });
  }

  /** Writes {@code stored} re-encrypted as {@code now}; false when another replica changed it first. */
  public Future<Boolean> reseal(Stored stored, Sealed now) {
    return pool.preparedQuery(RESEAL)
      .execute(Tuple.of(stored.organizationId(), stored.fingerprint(), stored.sealed().keyId(), now.keyId(),
        Buffer.buffer(now.nonce()), Buffer.buffer(now.ciphertext())))
      .map(rows -> rows.iterator().next().getLong("n") > 0);
  }

  /**
   * Key rotation: every secret sealed under another key than the cipher's current one (that is, under
   * {@code secrets_key_previous}) is encrypted again under it. Secrets that no configured key opens are left as they
   * are and their organizations reported.
   */
  public Future<Resealed> resealUnder(SecretsCipher cipher) {
    return notSealedUnder(cipher.currentKeyId()).compose(stored -> {
      List<String> unreadable = new ArrayList<>();
      Future<Integer> chain = Future.succeededFuture(0);
      for (Stored s : stored) {
        SecretsCipher.Sealed now = null;
        if (cipher.canSeal() && cipher.canOpen(s.sealed().keyId())) {
          try {
            now = cipher.seal(s.organizationId(), cipher.open(s.organizationId(), s.sealed()));
          } catch (IllegalArgumentException e) {
            now = null;
          }
        }
        if (now == null) {
          if (!unreadable.contains(s.organizationId())) {
            unreadable.add(s.organizationId());
          }
          continue;
        }
        SecretsCipher.Sealed resealed = now;
        chain = chain.compose(n -> reseal(s, resealed).map(done -> done ? n + 1 : n));
      }
      return chain.map(n -> new Resealed(n, List.copyOf(unreadable)));
    });
  }

  private static Sealed sealed(Row row) {
    return new Sealed(row.getString("key_id"), row.getBuffer("nonce").getBytes(),
      row.getBuffer("ciphertext").getBytes());
  }

  private static List<Listed> listed(io.vertx.sqlclient.RowSet<Row> rows) {
    List<Listed> out = new ArrayList<>(rows.size());
    for (Row row : rows) {
      out.add(new Listed(row.getString("fingerprint"), row.getOffsetDateTime("added_at")));
    }
    return out;
  }
}
