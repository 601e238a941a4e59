package io.callbackd.ingest;

import io.callbackd.database.PipelinedTransaction;
import io.callbackd.delivery.DeliveryStore;
import io.callbackd.delivery.DeliveryStore.BatchRun;
import io.callbackd.delivery.DispatchVerticle;
import io.callbackd.tracing.TraceContext;
import io.callbackd.tracing.Tracing;
import io.callbackd.webhook.DestinationGuard;
import io.callbackd.runs.InvalidInputException;
import io.callbackd.runs.JsonSize;
import io.callbackd.runs.NewRun;
import io.callbackd.runs.PayloadTooLargeException;
import io.callbackd.runs.StorableJson;
import io.callbackd.runs.RunStatus;
import io.callbackd.runs.RunStore;
import io.callbackd.runs.RunUpdate;
import io.vertx.core.AsyncResult;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.VerticleBase;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.SqlConnection;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The event-bus way in: JVM producers (or any node of a clustered event bus) send {@code callbackd.run.completed}
 * with either {@code {"run_id": ..., [status, completed_at, stop_reason, metadata, total_duration_ns]}} for a run
 * callbackd already stores, or a whole run (with {@code id} and {@code agent_id}) to create or update. The reply is
 * sent only once the callback is committed to Postgres, so a producer that got it can forget the event; a failure
 * reply names the field at fault (code 400), an unknown run (404), or a run that has nothing to deliver (409).
 *
 * <p>Events are written by group commit: each is checked as it arrives (a bad one is refused at once, alone), then
 * waits while a transaction is in flight; when it commits, the events that came meanwhile (at most
 * {@link #MAX_BATCH}, one per run) go in the next transaction, a few statements for all of them. With
 * {@code ingest_linger} at zero nothing waits for a timer: an event arriving when nothing is in flight is written at
 * once. A linger lets the first event of a batch wait up to that long for others to share its transaction (a batch
 * that is full goes at once): fewer transactions, NOTIFYs, claims and outcome batches per event at moderate rates,
 * for a reply that comes up to the linger later. Every event of a transaction is answered after its commit, each
 * with its own reply; events still waiting when the verticle stops are written before it has stopped.
 */
public class RunCompletedConsumerVerticle extends VerticleBase {

  public static final String ADDRESS = "callbackd.run.completed";

  /** The most events written in one transaction. */
  public static final int MAX_BATCH = 128;

  /** The most events waiting for a transaction; more are refused (503) rather than held without bound. */
  public static final int MAX_WAITING = 10_000;

  private static final Logger LOG = LoggerFactory.getLogger(RunCompletedConsumerVerticle.class);

  private final Pool pool;
  private final WorkListener workListener;
  private final RunStore runs;
  private final DeliveryStore deliveries;
  private final int maxBody;
  private final DestinationGuard guard;
  private final Tracing tracing;
  private final long lingerNanos;
  private final ArrayDeque<Pending> waiting = new ArrayDeque<>();
  private boolean writing;
  private long lingerTimer = -1;
  private Promise<Void> drained;
  private MessageConsumer<Object> consumer;

  /**
   * @param workListener whether this replica hears the commits' NOTIFY (while it does not, the consumer wakes its
   *                     dispatchers itself)
   * @param linger       how long the first event of a batch may wait for others to share its transaction
   */
  public RunCompletedConsumerVerticle(Pool pool, RunStore runs, DeliveryStore deliveries, int maxBody,
                                      DestinationGuard guard, Tracing tracing, WorkListener workListener,
                                      Duration linger) {
    this.pool = pool;
    this.lingerNanos = linger.toNanos();
    this.workListener = workListener;
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

  /** No more events are taken; those waiting are written (without their linger) and answered first. */
  @Override
  public Future<?> stop() {
    return consumer.unregister().transform(ar -> {
      drained = Promise.promise();
      writeWhenDue();
      return drained.future();
    });
  }

  /** An event checked and waiting for its transaction, with its scheduling span and when it came. */
  private record Pending(Message<Object> msg, RunCompletedEvent event, Tracing.Scheduling scheduling,
                         long arrivedNanos) {

    String runId() {
      return event.runId();
    }

    TraceContext trace() {
      return scheduling.trace();
    }
  }

  private void handle(Message<Object> msg) {
    JsonObject json;
    try {
      json = asJson(msg.body());
      StorableJson.check(json);
    } catch (InvalidInputException e) {
      fail(msg, 400, e);
      return;
    }
    // The event says the run is over: its callback is scheduled in the trace of the message's headers (traceparent).
    Tracing.Scheduling scheduling = tracing.schedule(msg.headers(), RunCompletedEvent.runIdOf(json),
      json.getValue("status") instanceof String ? (String) json.getValue("status") : null, true, "event_bus");
    Pending pending;
    try {
      RunCompletedEvent event = RunCompletedEvent.parse(json, guard);
      // A whole run whose callback payload would be too large is refused before it is written, as the API does.
      PayloadTooLargeException tooLarge = event.run() == null ? null : runs.payloadTooLarge(event.run());
      if (tooLarge != null) {
        scheduling.end(tooLarge);
        msg.fail(413, error("metadata", tooLarge.getMessage()));
        return;
      }
      pending = new Pending(msg, event, scheduling, System.nanoTime());
    } catch (InvalidInputException e) {
      scheduling.end(e);
      fail(msg, 400, e);
      return;
    }
    if (waiting.size() >= MAX_WAITING) {
      scheduling.end(new IllegalStateException("too many events waiting"));
      msg.fail(503, error(null, "more than " + MAX_WAITING + " events are waiting to be stored, try again"));
      return;
    }
    waiting.add(pending);
    writeWhenDue();
  }

  /**
   * Starts the next transaction when nothing is in flight and the waiting events are due: at once without a linger,
   * when they fill a batch, when the oldest has waited the linger (a timer until then), or when stopping. Once
   * stopping, nothing in flight and nothing waiting is the end of the drain.
   */
  private void writeWhenDue() {
    if (writing) {
      return;
    }
    if (waiting.isEmpty()) {
      if (drained != null) {
        drained.tryComplete();
      }
      return;
    }
    long waited = System.nanoTime() - waiting.peekFirst().arrivedNanos();
    if (waited >= lingerNanos || waiting.size() >= MAX_BATCH || drained != null) {
      cancelLinger();
      writeNext();
    } else if (lingerTimer < 0) {
      long millis = Math.max(1, (lingerNanos - waited + 999_999) / 1_000_000);
      lingerTimer = vertx.setTimer(millis, id -> {
        lingerTimer = -1;
        writeWhenDue();
      });
    }
  }

  private void cancelLinger() {
    if (lingerTimer >= 0) {
      vertx.cancelTimer(lingerTimer);
      lingerTimer = -1;
    }
  }

  /** Writes the next batch, if any waits; once it is answered, the next is written when due. */
  private void writeNext() {
    List<Pending> batch = EventBatches.take(waiting, Pending::runId, MAX_BATCH);
    if (batch.isEmpty()) {
      writing = false;
      return;
    }
    writing = true;
    PipelinedTransaction.run(pool, tx -> write(tx, batch)).onComplete(ar -> {
      if (ar.succeeded()) {
        try {
          answer(batch, ar.result());
        } finally {
          // Whatever answering did, the next batch goes: a consumer stuck here would hold every later event.
          written();
        }
      } else if (RunStore.isDataError(ar.cause()) && batch.size() > 1) {
        // PostgreSQL refused a value of one event, and the transaction is gone for all: each is written on its own.
        LOG.debug("An event of a batch of {} was refused by the database ({}); writing them one by one",
          batch.size(), ar.cause().getMessage());
        writeEach(batch, 0).onComplete(v -> written());
      } else {
        for (Pending p : batch) {
          reply(p, Future.failedFuture(ar.cause()));
        }
        written();
      }
    });
  }

  /** A batch is answered: the next goes when due (at once when stopping). */
  private void written() {
    writing = false;
    writeWhenDue();
  }

  /** What the batch's transaction did, for the replies. */
  private record Written(Set<String> created, Set<String> updated, Map<String, BatchRun> runs, boolean notified) {
  }

  /**
   * The batch in one transaction: the runs' live callbacks held, the whole runs created in one statement, the
   * updates (and the whole runs whose id was taken) applied in one, then the callbacks queued and every run read back
   * in one. BEGIN goes out with the creation, and the hold with the schedule statement and the COMMIT: two round
   * trips to PostgreSQL for a batch of new runs, three with updates.
   */
  private Future<Written> write(PipelinedTransaction tx, List<Pending> batch) {
    SqlConnection conn = tx.connection();
    List<NewRun> creates = new ArrayList<>();
    List<String> all = new ArrayList<>(batch.size());
    for (Pending p : batch) {
      all.add(p.runId());
      if (p.event().run() != null) {
        creates.add(p.event().run());
      }
    }
    Future<Set<String>> created = creates.isEmpty() ? Future.succeededFuture(Set.of()) : runs.createMany(conn, creates);
    return created.compose(c -> {
      List<String> ids = new ArrayList<>();
      List<RunUpdate> updates = new ArrayList<>();
      for (Pending p : batch) {
        if (p.event().update() != null) {
          ids.add(p.runId());
          updates.add(p.event().update());
        } else if (p.event().run() != null && !c.contains(p.runId())) {
          ids.add(p.runId());
          updates.add(p.event().updateOfExisting());
        }
      }
      Future<Set<String>> updated = ids.isEmpty() ? Future.succeededFuture(Set.of())
        : runs.updateMany(conn, ids, updates);
      return updated.compose(u -> {
        List<Boolean> schedule = new ArrayList<>(batch.size());
        List<TraceContext> traces = new ArrayList<>(batch.size());
        for (Pending p : batch) {
          // Scheduled as it would be one by one: a run read, or written; not one whose write was refused.
          schedule.add(p.event().run() == null && p.event().update() == null || c.contains(p.runId())
            || u.contains(p.runId()));
          traces.add(p.trace());
        }
        // The live callbacks are held after the runs' rows are written (an update may have waited for another
        // transaction that made the run terminal and queued its callback) and before the schedule statement's
        // snapshot: sent together with it and the COMMIT, they run in that order. New runs too: a run deleted while
        // its callback was still queued can come back under the same id.
        // The hold, the schedule and COMMIT in one write.
        return tx.commitWith(client -> deliveries.holdAndScheduleForRuns(client, all, schedule, traces))
          .map(s -> new Written(c, u, s.runs(), s.notifies()));
      });
    });
  }

  /** Answers each event of a committed batch; the dispatchers are woken once for all. */
  private void answer(List<Pending> batch, Written written) {
    boolean scheduled = false;
    for (Pending p : batch) {
      Future<JsonObject> result;
      try {
        result = outcome(p, written);
      } catch (RuntimeException e) {
        // Whatever went wrong answering one event, the others are answered: the producer of this one sends it again.
        LOG.warn("Could not answer an event for run {}: {}", p.runId(), e.toString());
        result = Future.failedFuture(e);
      }
      scheduled |= result.succeeded();
      reply(p, result);
    }
    if (scheduled) {
      wakeDispatchers(written.notified());
    }
  }

  /** Wakes this replica's dispatchers after a commit that queued callbacks, unless its NOTIFY does. */
  private void wakeDispatchers(boolean notified) {
    if (workListener.mustWake(notified)) {
      DispatchVerticle.wakeOne(vertx);
    }
  }

  /** One event's reply from what its batch wrote: as {@link #writeOne} would have answered it. */
  private Future<JsonObject> outcome(Pending p, Written written) {
    BatchRun run = written.runs().get(p.runId());
    boolean found = run != null && run.found();
    boolean wrote = p.event().update() == null && p.event().run() == null || written.created().contains(p.runId())
      || written.updated().contains(p.runId());
    if (!wrote && found) {
      return Future.failedFuture(runs.updateTooLarge());
    }
    if (!found) {
      return Future.failedFuture(new Rejection(404, "run_id", "unknown run " + p.runId()));
    }
    return deliverable(p.runId(), run.status(), run.callbackUrl())
      .map(v -> reply(p.runId(), run.status(), run.callback()));
  }

  /** Writes the events one after another, each in its own statements (the way of a batch that PostgreSQL refused). */
  private Future<Void> writeEach(List<Pending> batch, int from) {
    if (from == batch.size()) {
      return Future.succeededFuture();
    }
    Pending p = batch.get(from);
    return writeOne(p).transform(ar -> {
      if (ar.succeeded()) {
        // Written alone, without knowing whether its commit notified: woken as a commit that may not have.
        wakeDispatchers(false);
      }
      reply(p, ar);
      return writeEach(batch, from + 1);
    });
  }

  /** One event on its own: its run written (or read), then its callback scheduled if it has none. */
  private Future<JsonObject> writeOne(Pending p) {
    RunCompletedEvent event = p.event();
    Future<JsonObject> run;
    if (event.run() != null) {
      run = runs.upsert(event.run(), event.updateOfExisting(), p.trace());
    } else if (event.update() != null) {
      run = runs.update(p.runId(), event.update(), p.trace());
    } else {
      run = runs.find(p.runId());
    }
    return run.compose(r -> {
      if (r == null) {
        return Future.failedFuture(new Rejection(404, "run_id", "unknown run " + p.runId()));
      }
      return deliverable(r.getString("id"), r.getString("status"), r.getString("callback_url"))
        .compose(v -> deliveries.scheduleForRun(r.getString("id"), p.trace()))
        .map(cb -> reply(r.getString("id"), r.getString("status"), cb));
    });
  }

  /** Fails with a 409 when the run has nothing to deliver: it is not terminal, or has no callback_url. */
  private static Future<Void> deliverable(String id, String status, String callbackUrl) {
    if (!RunStatus.isTerminal(status)) {
      return Future.failedFuture(new Rejection(409, "status", "run " + id + " is " + status
        + ", not in a terminal status " + RunStatus.TERMINAL + "; nothing to deliver yet"));
    }
    if (callbackUrl == null || callbackUrl.isEmpty()) {
      return Future.failedFuture(new Rejection(409, "callback_url", "run " + id
        + " has no callback_url; nothing to deliver"));
    }
    return Future.succeededFuture();
  }

  private static JsonObject reply(String id, String status, JsonObject callback) {
    return new JsonObject().put("run_id", id).put("status", status).put("callback", callback);
  }

  /** Sends the event's reply, or its failure with the code and field it calls for, and ends its span. */
  private static void reply(Pending p, AsyncResult<JsonObject> ar) {
    p.scheduling().end(ar.cause());
    Message<Object> msg = p.msg();
    if (ar.succeeded()) {
      msg.reply(ar.result());
    } else if (ar.cause() instanceof Rejection) {
      Rejection r = (Rejection) ar.cause();
      msg.fail(r.code, error(r.field, r.getMessage()));
    } else if (ar.cause() instanceof PayloadTooLargeException) {
      msg.fail(413, error("metadata", ar.cause().getMessage()));
    } else if (ar.cause() instanceof InvalidInputException) {
      fail(msg, 400, (InvalidInputException) ar.cause());
    } else if (RunStore.isDataError(ar.cause())) {
      msg.fail(400, error(RunStore.refusedField(ar.cause()), "a value was refused by the database: "
        + ar.cause().getMessage()));
    } else {
      LOG.warn("Could not schedule the callback of an event-bus run-completed event: {}", ar.cause().getMessage());
      msg.fail(503, error(null, "could not store the event, try again: " + ar.cause().getMessage()));
    }
  }

  private JsonObject asJson(Object body) {
    if (body instanceof JsonObject) {
      JsonObject json = (JsonObject) body;
      // Encoded to measure only when its size may be over the limit.
      if (!JsonSize.surelyWithin(json, maxBody) && json.toBuffer().length() > maxBody) {
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
