package io.callbackd.delivery;

/**
 * How a process names itself in leases and the attempt log: pid and host, so an operator can find it. Built without
 * a DNS lookup (the JVM's own name would resolve the local host), since it is first used on an event loop.
 */
public final class ProcessIdentity {

  private static final String NAME = ProcessHandle.current().pid() + "@" + host();

  private ProcessIdentity() {
  }

  private static String host() {
    String h = System.getenv("HOSTNAME");
    if (h == null || h.isBlank()) {
      try {
        h = java.nio.file.Files.readString(java.nio.file.Path.of("/etc/hostname")).trim();
      } catch (java.io.IOException | RuntimeException e) {
        h = "localhost";
      }
    }
    return h.isBlank() ? "localhost" : h;
  }

  public static String name() {
    return NAME;
  }
}
