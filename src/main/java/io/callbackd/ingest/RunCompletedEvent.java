package io.callbackd.ingest;

import io.callbackd.runs.InvalidInputException;
import io.callbackd.runs.NewRun;
import io.callbackd.runs.RunInput;
import io.callbackd.runs.RunUpdate;
import io.callbackd.webhook.DestinationGuard;
import io.vertx.core.json.JsonObject;

/**
 * A {@code callbackd.run.completed} event, checked field by field before it is written: a run callbackd stores, to
 * read ({@code {"run_id"}} alone) or to update ({@code run_id} with {@code RunUpdate} fields), or a whole run to
 * create or update ({@code id}, {@code agent_id}, ...). Exactly one of {@link #run} and {@link #update} is set, or
 * neither for a read; {@link #updateOfExisting} is the update a whole run makes to the run of its id when that exists
 * already (null for the other forms).
 */
public record RunCompletedEvent(String runId, NewRun run, RunUpdate update, RunUpdate updateOfExisting) {

  /** The run's id as the event names it, for a span or a message, whatever its type. */
  public static String runIdOf(JsonObject event) {
    return String.valueOf(event.containsKey("run_id") ? event.getValue("run_id") : event.getValue("id"));
  }

  /** Fails with an {@link InvalidInputException} naming the field at fault. */
  public static RunCompletedEvent parse(JsonObject event, DestinationGuard guard) {
    if (!event.containsKey("run_id")) {
      if (!event.containsKey("id")) {
        throw new InvalidInputException("run_id", "the event needs run_id, or a whole run with id and agent_id");
      }
      NewRun run = RunInput.parseNew(event, guard);
      // A run that exists already keeps its status unless the event gives one: the status a new run gets by default
      // ("created") would reopen a finished run.
      String status = event.getValue("status") == null ? null : run.status();
      return new RunCompletedEvent(run.id(), run, null, new RunUpdate(status, run.completedAt(), run.stopReason(),
        run.metadata(), run.totalDurationNs()));
    }
    Object id = event.getValue("run_id");
    if (!(id instanceof String) || ((String) id).isBlank()) {
      throw new InvalidInputException("run_id", "run_id must be a non-empty string");
    }
    if (((String) id).length() > RunInput.MAX_ID) {
      throw new InvalidInputException("run_id", "run_id is longer than " + RunInput.MAX_ID + " characters");
    }
    JsonObject fields = event.copy();
    fields.remove("run_id");
    return new RunCompletedEvent((String) id, null, fields.isEmpty() ? null : RunInput.parseUpdate(fields), null);
  }
}
