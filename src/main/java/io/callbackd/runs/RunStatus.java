package io.callbackd.runs;

import java.util.List;

/** Letta's run statuses; the last three are terminal, and the first move into one of them triggers the callback. */
public final class RunStatus {

  public static final List<String> ALL = List.of("created", "running", "completed", "failed", "cancelled");
  public static final List<String> TERMINAL = List.of("completed", "failed", "cancelled");

  private RunStatus() {
  }

  // A platform's table may hold a run without a status (a nullable column): neither known nor terminal.
  public static boolean isKnown(String status) {
    return status != null && ALL.contains(status);
  }

  public static boolean isTerminal(String status) {
    return status != null && TERMINAL.contains(status);
  }
}
