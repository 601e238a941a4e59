package io.callbackd.database;

import io.callbackd.config.ConfigException;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import io.zonky.test.db.postgres.util.LinuxUtils;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Starts the embedded PostgreSQL the way {@link EmbeddedPostgresMode} decides, and logs which way it took. Blocking;
 * runs once at start-up.
 */
final class EmbeddedServerLauncher {

  private static final Logger LOG = LoggerFactory.getLogger(EmbeddedServerLauncher.class);
  private static final Duration STARTUP_WAIT = Duration.ofSeconds(60);

  private EmbeddedServerLauncher() {
  }

  static EmbeddedServer start(Path dataDir, String accountName, boolean userNamespaceAllowed) throws IOException {
    long uid = new com.sun.security.auth.module.UnixSystem().getUid();
    // The library's own test (unshare -U id -u answers a user other than root); it is also what makes the library
    // prefix initdb and pg_ctl with unshare -U, so callbackd and the library cannot disagree.
    boolean userNamespace = uid == 0 && userNamespaceAllowed && LinuxUtils.isUnshareAvailable();
    PostgresAccount account = uid == 0 && !userNamespace ? PostgresAccount.find(accountName) : null;
    EmbeddedPostgresMode mode = EmbeddedPostgresMode.decide(uid, userNamespace, account != null && account.usable());
    Path data = dataDir.toAbsolutePath().normalize();
    switch (mode) {
      case AS_CALLBACKD_USER:
        LOG.info("Embedded PostgreSQL runs as callbackd's own user ({})", System.getProperty("user.name"));
        return library(data);
      case USER_NAMESPACE:
        LOG.info("callbackd runs as root: the embedded PostgreSQL runs in a user namespace (unshare -U), its files "
          + "owned by root");
        if (Files.exists(data)) {
          // Left by a start under an account: the server in the namespace writes as root.
          DataDirectoryOwner.ensure(data, 0, 0);
        }
        return library(data);
      case UNPRIVILEGED_ACCOUNT:
        LOG.info("callbackd runs as root and {}: the embedded PostgreSQL runs as the account {} (uid {}, through {}), "
          + "which owns {}", userNamespaceAllowed ? "user namespaces are not available here (unshare -U failed)"
          : "user namespaces are switched off (CALLBACKD_EMBEDDED_PG_USER_NAMESPACE=false)", account.name,
          account.uid, account.switchTool(), data);
        return AccountPostgres.start(account, data, STARTUP_WAIT);
      default:
        throw new ConfigException("callbackd runs as root, and PostgreSQL refuses to: the embedded PostgreSQL needs "
          + (userNamespaceAllowed ? "a user namespace, which this system does not allow (unshare -U failed)"
          : "a user namespace, switched off by CALLBACKD_EMBEDDED_PG_USER_NAMESPACE=false")
          + ", or an unprivileged account, and the account '" + accountName + "' (CALLBACKD_EMBEDDED_PG_USER) "
          + account.problem + ". Set CALLBACKD_EMBEDDED_PG_USER to an existing account other than root (with setpriv "
          + "or runuser installed), run callbackd as an ordinary user, or set CALLBACKD_PG_URL to a PostgreSQL server");
    }
  }

  private static EmbeddedServer library(Path data) throws IOException {
    Files.createDirectories(data);
    EmbeddedPostgres pg = EmbeddedPostgres.builder()
      .setDataDirectory(data)
      .setCleanDataDirectory(false)
      .setPGStartupWait(STARTUP_WAIT)
      .start();
    return new EmbeddedServer() {
      @Override
      public int port() {
        return pg.getPort();
      }

      @Override
      public void close() {
        try {
          pg.close();
        } catch (IOException e) {
          LoggerFactory.getLogger(Database.class).warn("Embedded PostgreSQL did not stop cleanly: {}", e.getMessage());
        }
      }
    };
  }
}
