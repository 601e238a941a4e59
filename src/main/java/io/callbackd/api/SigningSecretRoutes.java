package io.callbackd.api;

import io.callbackd.runs.Timestamps;
import io.callbackd.secrets.OrganizationSigners;
import io.callbackd.secrets.SigningSecretStore;
import io.callbackd.webhook.CallbackSigner;
import io.callbackd.webhook.SecretsCipher;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.openapi.router.RouterBuilder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;

/**
 * An organization's own signing secrets: set (replace) the list, read its fingerprints, remove it. Secrets are
 * checked like {@code CALLBACKD_SIGNING_SECRETS}, stored only encrypted, and never answered or logged: operators see
 * fingerprints. Behind the API token like every {@code /v1} route.
 */
final class SigningSecretRoutes {

  static final int MAX_SECRETS = 10;
  static final int MAX_ORGANIZATION_ID = 255;

  private static final Logger LOG = LoggerFactory.getLogger(SigningSecretRoutes.class);

  private final Vertx vertx;
  private final SigningSecretStore store;
  private final SecretsCipher cipher;

  SigningSecretRoutes(Vertx vertx, SigningSecretStore store, SecretsCipher cipher) {
    this.vertx = vertx;
    this.store = store;
    this.cipher = cipher;
  }

  void register(RouterBuilder api) {
    api.getRoute("putSigningSecrets").addHandler(this::put);
    api.getRoute("getSigningSecrets").addHandler(this::get);
    api.getRoute("deleteSigningSecrets").addHandler(this::delete);
  }

  private void put(RoutingContext ctx) {
    String org = organizationId(ctx);
    if (org == null) {
      return;
    }
    Object parsed = ctx.body() == null || ctx.body().isEmpty() ? null : ctx.body().buffer().toJsonValue();
    JsonArray given = parsed instanceof JsonObject ? ((JsonObject) parsed).getJsonArray("secrets") : null;
    if (given == null || given.isEmpty() || given.size() > MAX_SECRETS) {
      ApiError.send(ctx, 400, "secrets", "secrets must be a list of 1 to " + MAX_SECRETS
        + " whsec_<base64> secrets, newest first");
      return;
    }
    List<byte[]> keys = new ArrayList<>(given.size());
    List<String> fingerprints = new ArrayList<>(given.size());
    for (int i = 0; i < given.size(); i++) {
      Object value = given.getValue(i);
      byte[] key;
      try {
        key = CallbackSigner.organizationKey(value instanceof String ? (String) value : null);
      } catch (IllegalArgumentException e) {
        // Which entry, and what is wrong with it; never any part of it.
        ApiError.send(ctx, 400, "secrets", "secrets entry " + (i + 1) + " is malformed: " + e.getMessage()
          + " (expected whsec_<base64 of 24 to 64 bytes>)");
        return;
      }
      String fingerprint = CallbackSigner.fingerprint(key);
      int earlier = fingerprints.indexOf(fingerprint);
      if (earlier >= 0) {
        ApiError.send(ctx, 400, "secrets", "secrets entry " + (i + 1) + " repeats entry " + (earlier + 1));
        return;
      }
      keys.add(key);
      fingerprints.add(fingerprint);
    }
    if (!cipher.canSeal()) {
      ApiError.send(ctx, 409, "secrets", "CALLBACKD_SECRETS_KEY is not set: signing secrets are stored only "
        + "encrypted, so none can be set until callbackd runs with that key");
      return;
    }
    List<SigningSecretStore.NewSecret> sealed = new ArrayList<>(keys.size());
    for (int i = 0; i < keys.size(); i++) {
      sealed.add(new SigningSecretStore.NewSecret(fingerprints.get(i), cipher.seal(org, keys.get(i))));
    }
    store.replace(org, sealed).onComplete(ar -> {
      if (ar.failed()) {
        unavailable(ctx, ar.cause());
        return;
      }
      LOG.info("Organization {} now signs its callbacks with {} secret(s) of its own: {}", org, ar.result().size(),
        fingerprints);
      changed(org);
      respond(ctx, 200, org, ar.result());
    });
  }

  private void get(RoutingContext ctx) {
    String org = organizationId(ctx);
    if (org == null) {
      return;
    }
    store.list(org).onComplete(ar -> {
      if (ar.failed()) {
        unavailable(ctx, ar.cause());
      } else if (ar.result().isEmpty()) {
        ApiError.send(ctx, 404, "organization_id", "organization " + org + " has no signing secrets of its own");
      } else {
        respond(ctx, 200, org, ar.result());
      }
    });
  }

  private void delete(RoutingContext ctx) {
    String org = organizationId(ctx);
    if (org == null) {
      return;
    }
    store.delete(org).onComplete(ar -> {
      if (ar.failed()) {
        unavailable(ctx, ar.cause());
      } else if (!ar.result()) {
        ApiError.send(ctx, 404, "organization_id", "organization " + org + " has no signing secrets of its own");
      } else {
        LOG.info("Organization {} no longer has signing secrets of its own: its callbacks are signed with "
          + "CALLBACKD_SIGNING_SECRETS", org);
        changed(org);
        ctx.response().setStatusCode(204).end();
      }
    });
  }

  /** This replica's dispatchers forget at once; the others through the NOTIFY the change sent. */
  private void changed(String org) {
    OrganizationSigners.changed(vertx, org);
  }

  private static String organizationId(RoutingContext ctx) {
    String org = ctx.pathParam("organization_id");
    if (org == null || org.isBlank() || org.length() > MAX_ORGANIZATION_ID
      || org.chars().anyMatch(Character::isISOControl)) {
      ApiError.send(ctx, 400, "organization_id", "the organization id in the path must be 1 to "
        + MAX_ORGANIZATION_ID + " characters, without control characters");
      return null;
    }
    return org;
  }

  private static void respond(RoutingContext ctx, int status, String org, List<SigningSecretStore.Listed> list) {
    JsonArray secrets = new JsonArray();
    for (SigningSecretStore.Listed s : list) {
      secrets.add(new JsonObject().put("fingerprint", s.fingerprint())
        .put("added_at", Timestamps.format(s.addedAt())));
    }
    ctx.response().setStatusCode(status).putHeader("content-type", "application/json")
      .end(new JsonObject().put("organization_id", org).put("secrets", secrets).encode());
  }

  private static void unavailable(RoutingContext ctx, Throwable err) {
    LOG.warn("Signing secrets request {} {} failed: {}", ctx.request().method(), ctx.request().path(),
      err.getMessage());
    ApiError.send(ctx, 503, null, "the database is unavailable, nothing was changed; try again");
  }
}
