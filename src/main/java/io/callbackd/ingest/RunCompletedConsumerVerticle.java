package io.callbackd.ingest;

import io.callbackd.delivery.DeliveryStore;
import io.callbackd.delivery.DispatchVerticle;
import io.callbackd.tracing.TraceContext;
import io.callbackd.tracing.Tracing;
import io.callbackd.webhook.DestinationGuard;
import io.callbackd.runs.InvalidInputException;
import io.callbackd.runs.PayloadTooLargeException;
import io.callbackd.runs.RunInput;
import io.callbackd.runs.StorableJson;
import io.callbackd.runs.RunStatus;
import io.callbackd.runs.RunStore;
import io.callbackd.runs.RunUpdate;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The event-bus way in: JVM producers (or any node of a clustered event bus) send {@code callbackd.run.completed}
 * with either {@code {"run_id": ..., [status, completed_at, stop_reason, metadata, total_duration_ns]}} for a run
 * callbackd already stores, or a whole run (with {@code id} and {@code agent_id}) to create or update. The reply is
 * sent only once the callback is committed to Postgres, so a producer that got it can forget the event; a failure
 * reply names the field at fault (code 400), an unknown run (404), or a run that has nothing to deliver (409).
 */
public class RunCompletedConsumerVerticle extends VerticleBase {

  public static final String ADDRESS = "callbackd.run.completed";

  private static final Logger LOG = LoggerFactory.getLogger(RunCompletedConsumerVerticle.class);

  private final RunStore runs;
  private final DeliveryStore deliveries;
  private final int maxBody;
  private final DestinationGuard guard;
  private final Tracing tracing;
  private MessageConsumer<Object> consumer;

  public RunCompletedConsumerVerticle(RunStore runs, DeliveryStore deliveries, int maxBody, DestinationGuard guard,
                                      Tracing tracing) {
    this.tracing = tracing;
    this.runs = runs;
    this.deliveries = deliveries;
    this.maxBody = maxBody;
    this.guard = guard;
  }

  @Override
  public Future<?> start() {
    consumer = vertx.eventBus().consumer(ADDRESS, this::handle);
    return consumer.completion();
  }

  private void handle(Message<Object> msg) {
    JsonObject event;
    try {
      event = asJson(msg.body());
      StorableJson.check(event);
    } catch (InvalidInputException e) {
      fail(msg, 400, e);
      return;
    }
    Future<JsonObject> run;
    // The event says the run is over: its callback is scheduled in the trace of the message's headers (traceparent).
    Tracing.Scheduling scheduling = tracing.schedule(msg.headers(), runId(event),
      event.getValue("status") instanceof String ? (String) event.getValue("status") : null, true,
      "event_bus");
    TraceContext trace = scheduling.trace();
    try {
      run = event.containsKey("run_id") ? byRunId(event, trace) : wholeRun(event, trace);
    } catch (InvalidInputException e) {
      scheduling.end(e);
      fail(msg, 400, e);
      return;
    }
    run.compose(r -> {
      if (r == null) {
        return Future.failedFuture(new Rejection(404, "run_id", "unknown run " + runId(event)));
      }
      if (!RunStatus.isTerminal(r.getString("status"))) {
        return Future.failedFuture(new Rejection(409, "status", "run " + r.getString("id") + " is " + r.getString("status")
          + ", not in a terminal status " + RunStatus.TERMINAL + "; nothing to deliver yet"));
      }
      if (r.getString("callback_url") == null || r.getString("callback_url").isEmpty()) {
        return Future.failedFuture(new Rejection(409, "callback_url", "run " + r.getString("id")
          + " has no callback_url; nothing to deliver"));
      }
      return deliveries.scheduleForRun(r.getString("id"), trace).map(cb -> new JsonObject()
        .put("run_id", r.getString("id")).put("status", r.getString("status")).put("callback", cb));
    }).onComplete(ar -> {
      scheduling.end(ar.cause());
      if (ar.succeeded()) {
        vertx.eventBus().publish(DispatchVerticle.WAKE_ADDRESS, null);
        msg.reply(ar.result());
      } else if (ar.cause() instanceof Rejection) {
        Rejection r = (Rejection) ar.cause();
        msg.fail(r.code, error(r.field, r.getMessage()));
      } else if (ar.cause() instanceof PayloadTooLargeException) {
        msg.fail(413, error("metadata", ar.cause().getMessage()));
      } else if (ar.cause() instanceof InvalidInputException) {
        fail(msg, 400, (InvalidInputException) ar.cause());
      } else if (RunStore.isDataError(ar.cause())) {
        msg.fail(400, error("body", "a value was refused by the database: " + ar.cause().getMessage()));
      } else {
        LOG.warn("Could not schedule the callback of an event-bus run-completed event: {}", ar.cause().getMessage());
        msg.fail(503, error(null, "could not store the event, try again: " + ar.cause().getMessage()));
      }
    });
  }

  private Future<JsonObject> byRunId(JsonObject event, TraceContext trace) {
    Object id = event.getValue("run_id");
    if (!(id instanceof String) || ((String) id).isBlank()) {
      throw new InvalidInputException("run_id", "run_id must be a non-empty string");
    }
    if (((String) id).length() > RunInput.MAX_ID) {
      throw new InvalidInputException("run_id", "run_id is longer than " + RunInput.MAX_ID + " characters");
    }
    JsonObject fields = event.copy();
    fields.remove("run_id");
    if (fields.isEmpty()) {
      return runs.find((String) id);
    }
    RunUpdate update = RunInput.parseUpdate(fields);
    return runs.update((String) id, update, trace);
  }

  private Future<JsonObject> wholeRun(JsonObject event, TraceContext trace) {
    if (!event.containsKey("id")) {
      throw new InvalidInputException("run_id", "the event needs run_id, or a whole run with id and agent_id");
    }
    return runs.upsert(RunInput.parseNew(event, guard), trace);
  }

  private static String runId(JsonObject event) {
    return String.valueOf(event.containsKey("run_id") ? event.getValue("run_id") : event.getValue("id"));
  }

  private JsonObject asJson(Object body) {
    if (body instanceof JsonObject) {
      JsonObject json = (JsonObject) body;
      if (json.toBuffer().length() > maxBody) {
        throw new InvalidInputException("body", "the event is larger than " + maxBody + " bytes");
      }
      return json;
    }
    Buffer bytes;
    if (body instanceof String) {
      bytes = Buffer.buffer((String) body);
    } else if (body instanceof Buffer) {
      bytes = (Buffer) body;
    } else {
      throw new InvalidInputException("body", "the event must be a JSON object");
    }
    if (bytes.length() > maxBody) {
      throw new InvalidInputException("body", "the event is larger than " + maxBody + " bytes");
    }
    try {
      Object parsed = bytes.toJsonValue();
      if (parsed instanceof JsonObject) {
        return (JsonObject) parsed;
      }
    } catch (DecodeException e) {
      throw new InvalidInputException("body", "the event is not valid JSON");
    }
    throw new InvalidInputException("body", "the event must be a JSON object");
  }

  private static void fail(Message<Object> msg, int code, InvalidInputException e) {
    msg.fail(code, error(e.field(), e.getMessage()));
  }

  private static String error(String field, String message) {
    return new JsonObject().put("error", message).put("field", field).encode();
  }

  private static final class Rejection extends RuntimeException {
    final int code;
    final String field;

    Rejection(int code, String field, String message) {
      super(message, null, false, false);
      this.code = code;
      this.field = field;
    }
  }
}
