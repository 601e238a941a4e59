package io.callbackd.runs;

/** A run with this id exists already; creating it again would overwrite what the platform wrote. */
public class RunExistsException extends RuntimeException {
  public RunExistsException(String id) {
    super("a run with id " + id + " exists already");
  }
}
