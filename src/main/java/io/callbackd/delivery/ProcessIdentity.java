package io.callbackd.delivery;

import java.lang.management.ManagementFactory;

/** How a process names itself in leases and the attempt log: host and pid, so an operator can find it. */
public final class ProcessIdentity {

  private static final String NAME = ManagementFactory.getRuntimeMXBean().getName();

  private ProcessIdentity() {
  }

  public static String name() {
    return NAME;
  }
}
