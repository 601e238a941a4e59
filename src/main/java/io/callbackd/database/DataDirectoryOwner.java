package io.callbackd.database;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.stream.Stream;

/**
 * Gives the embedded PostgreSQL's data directory, and everything in it, to the user its server runs as. Needed when
 * one data directory is started one way and then the other (an unprivileged account, then a user namespace whose
 * server writes as root): PostgreSQL only opens files its user owns.
 */
final class DataDirectoryOwner {

  private DataDirectoryOwner() {
  }

  /** Changes the owner of whatever in {@code dir} is not owned by {@code uid}/{@code gid}; links are not followed. */
  static void ensure(Path dir, int uid, int gid) throws IOException {
    try (Stream<Path> walk = Files.walk(dir)) {
      for (Path p : (Iterable<Path>) walk::iterator) {
        if (!Integer.valueOf(uid).equals(Files.getAttribute(p, "unix:uid", LinkOption.NOFOLLOW_LINKS))) {
          Files.setAttribute(p, "unix:uid", uid, LinkOption.NOFOLLOW_LINKS);
        }
        if (!Integer.valueOf(gid).equals(Files.getAttribute(p, "unix:gid", LinkOption.NOFOLLOW_LINKS))) {
          Files.setAttribute(p, "unix:gid", gid, LinkOption.NOFOLLOW_LINKS);
        }
      }
    }
  }
}
