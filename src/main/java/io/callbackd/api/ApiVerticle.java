package io.callbackd.api;

import io.callbackd.webhook.DestinationGuard;
import io.callbackd.config.CallbackdConfig;
import io.callbackd.delivery.DeliveryStore;
import io.callbackd.delivery.DispatchVerticle;
import io.callbackd.ingest.WorkListener;
import io.callbackd.runs.InvalidInputException;
import io.callbackd.runs.PayloadTooLargeException;
import io.callbackd.runs.RunExistsException;
import io.callbackd.runs.RunInput;
import io.callbackd.runs.RunListQuery;
import io.callbackd.runs.RunStatus;
import io.callbackd.runs.RunStore;
import io.callbackd.secrets.SigningSecretStore;
import io.callbackd.webhook.SecretsCipher;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.callbackd.tracing.Tracing;
import io.callbackd.runs.NewRun;
import io.callbackd.runs.RunUpdate;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.vertx.core.json.JsonObject;
import io.vertx.core.json.jackson.JacksonCodec;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import io.vertx.ext.web.handler.HttpException;
import io.vertx.ext.web.handler.StaticHandler;
import io.vertx.ext.web.openapi.router.RequestExtractor;
import io.vertx.ext.web.openapi.router.RouterBuilder;
import io.vertx.openapi.contract.OpenAPIContract;
import io.vertx.openapi.validation.ValidatorException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The HTTP API for runs: create, update (the first terminal update schedules the callback), read with the callback's
 * state, and list its attempts. Every refusal is a 4xx with a JSON body naming the field; nothing is half-stored.
 */
public class ApiVerticle extends VerticleBase {

  private static final Logger LOG = LoggerFactory.getLogger(ApiVerticle.class);
  public static final String CONSOLE = "/console";
  /** The OpenAPI contract of every /v1 route: the router is built from it, and it is served as is. */
  public static final String CONTRACT = "openapi.json";
  public static final String OPENAPI = "/openapi.json";

  /** Encodes the run answers: Vert.x's own JSON types, strings, numbers, booleans and nulls only. */
  private static final JacksonCodec STREAMING_JSON = new JacksonCodec();

  private final CallbackdConfig config;
  private final DestinationGuard guard;
  private final RunStore runs;
  private final DeliveryStore deliveries;
  private final SigningSecretStore secrets;
  private final SecretsCipher cipher;
  private final Tracing tracing;
  private final WorkListener workListener;
  private HttpServer server;
  private Router router;
  private Router apiRouter;
  private ContractBodyValidator newRunBody;
  private ContractBodyValidator runUpdateBody;

  private final java.util.function.Consumer<Router> operationsRoutes;

  /**
   * @param operationsRoutes mounts the routes that stay open without a token (health, metrics): they reveal no run
   *                         data
   * @param workListener     whether this replica hears the NOTIFY of the terminal updates it makes (then it does not
   *                         wake its dispatchers itself)
   */
  public ApiVerticle(CallbackdConfig config, DestinationGuard guard, RunStore runs, DeliveryStore deliveries,
                     SigningSecretStore secrets, SecretsCipher cipher, Tracing tracing, WorkListener workListener,
                     java.util.function.Consumer<Router> operationsRoutes) {
    this.tracing = tracing;
    this.workListener = workListener;
    this.config = config;
    this.guard = guard;
    this.runs = runs;
    this.deliveries = deliveries;
    this.secrets = secrets;
    this.cipher = cipher;
    this.operationsRoutes = operationsRoutes;
  }

  @Override
  public Future<?> start() {
    return OpenAPIContract.from(vertx, CONTRACT).compose(contract -> {
      RouterBuilder api = RouterBuilder.create(vertx, contract, RequestExtractor.withBodyHandler());
      // The two routes called for every run check their body against the contract themselves (see
      // ContractBodyValidator); their path parameter is checked by runId().
      newRunBody = new ContractBodyValidator(contract, "createRun");
      runUpdateBody = new ContractBodyValidator(contract, "updateRun");
      api.getRoute("createRun").setDoValidation(false).addHandler(this::createRun);
      api.getRoute("listRuns").addHandler(this::listRuns);
      api.getRoute("getRun").addHandler(this::getRun);
      api.getRoute("updateRun").setDoValidation(false).addHandler(this::updateRun);
      api.getRoute("listAttempts").addHandler(this::listAttempts);
      new OperatorRoutes(vertx, runs, deliveries, config.redeliverRate).register(api);
      new SigningSecretRoutes(vertx, secrets, cipher).register(api);
      // The token is checked below for every /v1 route, set or not; the contract only documents it.
      api.getRoutes().forEach(r -> r.setDoSecurity(false));
      apiRouter = api.createRouter();
      errorHandlers(apiRouter);
      return vertx.fileSystem().readFile(CONTRACT);
    }).compose(contractBytes -> {
      Router router = Router.router(vertx);
      router.route().handler(SecurityHeaders::handle);
      operationsRoutes.accept(router);
      router.get(OPENAPI).handler(ctx -> ctx.response().putHeader("content-type", "application/json")
        .end(contractBytes));
      // The operator console: static files from the jar, nothing fetched from the internet at run time.
      // Vert.x matches "/console" for "/console/" too: only the bare path is redirected.
      router.get(CONSOLE).handler(ctx -> {
        if (ctx.request().path().endsWith("/")) {
          ctx.next();
        } else {
          ctx.redirect(CONSOLE + "/");
        }
      });
      router.get(CONSOLE + "/*").handler(StaticHandler.create("webroot").setCachingEnabled(true)
        .setMaxAgeSeconds(300).setIndexPage("index.html"));
      if (!config.apiTokens.isEmpty()) {
        router.route("/v1/*").handler(new ApiTokenAuth(config.apiTokens));
      }
      router.route("/v1/*").handler(BodyHandler.create(false).setBodyLimit(config.maxBody));
      router.route("/v1/*").handler(JsonRequestBody::handle);
      router.route("/*").subRouter(apiRouter);
      errorHandlers(router);
      this.router = router;
      // Plain HTTP/1.1 (and TLS-negotiated HTTP/2 where a proxy terminates TLS); no cleartext upgrade dance.
      // An idle timeout: a connection that carries nothing (a client gone without closing, a request that never
      // came) is closed rather than held forever.
      server = vertx.createHttpServer(new HttpServerOptions().setHttp2ClearTextEnabled(false)
        .setCompressionSupported(true)
        .setIdleTimeout((int) Math.min(Integer.MAX_VALUE, config.httpIdleTimeout.toMillis()))
        .setIdleTimeoutUnit(java.util.concurrent.TimeUnit.MILLISECONDS));
      return server.requestHandler(router).invalidRequestHandler(ApiVerticle::refuseUnreadable)
        .listen(config.httpPort, config.httpHost);
    }).onSuccess(s -> {
      LOG.info("HTTP API listening on {}:{}", config.httpHost, s.actualPort());
      if (config.apiTokens.isEmpty()) {
        LOG.warn("CALLBACKD_API_TOKENS is not set: the /v1 API is open to anyone who can reach port {}",
          s.actualPort());
      }
    });
  }

  /**
   * A request the HTTP decoder could not read (a request line or headers over Netty's limits, a forbidden character
   * in a header) never reaches the router: it gets the usual error shape and headers here, and the connection is
   * closed, as the decoder cannot resume after it.
   */
  private static void refuseUnreadable(HttpServerRequest request) {
    Throwable cause = request.decoderResult().cause();
    int status;
    String field;
    String message;
    if (cause instanceof TooLongHttpLineException) {
      status = 414;
      field = "path";
      message = "the request line is longer than " + HttpServerOptions.DEFAULT_MAX_INITIAL_LINE_LENGTH + " bytes";
    } else if (cause instanceof TooLongHttpHeaderException) {
      status = 431;
      field = "headers";
      message = "the request's headers are larger than " + HttpServerOptions.DEFAULT_MAX_HEADER_SIZE + " bytes";
    } else {
      status = 400;
      field = null;
      message = "the request is not valid HTTP/1.1";
    }
    JsonObject body = new JsonObject().put("error", message);
    if (field != null) {
      body.put("field", field);
    }
    HttpServerResponse response = request.response().setStatusCode(status);
    SecurityHeaders.apply(null, response.headers());
    response.putHeader("content-type", "application/json").putHeader("connection", "close")
      .end(body.encode()).onComplete(ar -> request.connection().close());
  }

  private void errorHandlers(Router router) {
    router.errorHandler(400, ctx -> {
      Throwable cause = ctx.failure() instanceof HttpException ? ctx.failure().getCause() : ctx.failure();
      if (cause instanceof ValidatorException) {
        ValidatorException e = (ValidatorException) cause;
        ApiError.send(ctx, 400, ContractErrors.field(e), ContractErrors.message(e));
      } else {
        ApiError.send(ctx, 400, "body", "bad request");
      }
    });
    router.errorHandler(404, ctx -> ApiError.send(ctx, 404, null, "no such route: " + ctx.request().method() + " "
      + ctx.request().path()));
    router.errorHandler(405, ctx -> ApiError.send(ctx, 405, null, "method " + ctx.request().method()
      + " is not allowed on " + ctx.request().path()));
    router.errorHandler(413, ctx -> ApiError.send(ctx, 413, "body", "the request body is larger than "
      + config.maxBody + " bytes"));
    router.errorHandler(500, ctx -> {
      LOG.error("Unexpected error on {} {}", ctx.request().method(), ctx.request().path(), ctx.failure());
      ApiError.send(ctx, 500, null, "internal error");
    });
  }

  public int actualPort() {
    return server.actualPort();
  }

  /** Every route served, as {@code METHOD path}, for the documentation check. */
  public java.util.List<String> routes() {
    java.util.List<String> out = new java.util.ArrayList<>();
    for (Router r : java.util.List.of(router, apiRouter)) {
      for (var route : r.getRoutes()) {
        if (route.methods() != null && !route.methods().isEmpty() && route.getPath() != null) {
          route.methods().forEach(m -> out.add(m.name() + " " + route.getPath()));
        }
      }
    }
    return out;
  }

  private void createRun(RoutingContext ctx) {
    JsonObject body = jsonBody(ctx);
    if (body == null) {
      return;
    }
    Future<JsonObject> created;
    Tracing.Scheduling scheduling = null;
    try {
      newRunBody.check(body);
      NewRun run = RunInput.parseNew(body, guard);
      scheduling = tracing.schedule(ctx.request().headers(), run.id(), run.status(),
        run.status() != null && RunStatus.isTerminal(run.status()), "api");
      created = runs.create(run, scheduling.trace());
    } catch (ValidatorException e) {
      ApiError.send(ctx, 400, ContractErrors.field(e), ContractErrors.message(e));
      return;
    } catch (InvalidInputException e) {
      ApiError.send(ctx, 400, e.field(), e.getMessage());
      return;
    }
    Tracing.Scheduling scheduled = scheduling;
    created.onComplete(ar -> {
      scheduled.end(ar.cause());
      if (ar.succeeded()) {
        // A run created terminal is queued by the outbox trigger at its commit, whose NOTIFY may have been sent by
        // another transaction at that moment: woken as a commit that may not have notified.
        wakeIfTerminal(ar.result(), false);
        respond(ctx, 201, ar.result());
      } else {
        failed(ctx, ar.cause());
      }
    });
  }

  private void updateRun(RoutingContext ctx) {
    String id = runId(ctx);
    JsonObject body = id == null ? null : jsonBody(ctx);
    if (body == null) {
      return;
    }
    Future<RunStore.UpdatedRun> updated;
    Tracing.Scheduling scheduling = null;
    try {
      runUpdateBody.check(body);
      RunUpdate update = RunInput.parseUpdate(body);
      scheduling = tracing.schedule(ctx.request().headers(), id, update.status(),
        update.status() != null && RunStatus.isTerminal(update.status()), "api");
      updated = runs.updateTellingWake(id, update, scheduling.trace());
    } catch (ValidatorException e) {
      ApiError.send(ctx, 400, ContractErrors.field(e), ContractErrors.message(e));
      return;
    } catch (InvalidInputException e) {
      ApiError.send(ctx, 400, e.field(), e.getMessage());
      return;
    }
    Tracing.Scheduling scheduled = scheduling;
    updated.onComplete(ar -> {
      scheduled.end(ar.cause());
      if (ar.failed()) {
        failed(ctx, ar.cause());
      } else if (ar.result() == null) {
        ApiError.send(ctx, 404, "id", "unknown run " + id);
      } else {
        wakeIfTerminal(ar.result().run(), ar.result().notified());
        respond(ctx, 200, ar.result().run());
      }
    });
  }

  private void getRun(RoutingContext ctx) {
    String id = runId(ctx);
    if (id != null) {
      respondWithRun(ctx, id, runs.find(id));
    }
  }

  /** Letta's {@code runs.list}: a JSON array of runs, the same shape as {@link #getRun} answers. */
  private void listRuns(RoutingContext ctx) {
    RunListQuery query;
    try {
      Map<String, List<String>> params = new LinkedHashMap<>();
      ctx.queryParams().names().forEach(name -> params.put(name, ctx.queryParams().getAll(name)));
      query = RunListQuery.parse(params);
    } catch (InvalidInputException e) {
      ApiError.send(ctx, 400, e.field(), e.getMessage());
      return;
    }
    runs.list(query).onComplete(ar -> {
      if (ar.succeeded()) {
        ctx.response().setStatusCode(200).putHeader("content-type", "application/json").end(ar.result().encode());
      } else if (ar.cause() instanceof InvalidInputException) {
        InvalidInputException e = (InvalidInputException) ar.cause();
        ApiError.send(ctx, 400, e.field(), e.getMessage());
      } else {
        failed(ctx, ar.cause());
      }
    });
  }

  private void listAttempts(RoutingContext ctx) {
    String id = runId(ctx);
    if (id != null) {
      respondWithRun(ctx, id, runs.find(id).compose(run -> run == null ? Future.succeededFuture(null)
        : deliveries.attemptsForRun(id).map(attempts -> new JsonObject().put("run_id", id)
          .put("callback", run.getValue("callback")).put("attempts", attempts))));
    }
  }

  /** 200 with what was read about run {@code id}, 404 when there is no such run (null), or the failure's status. */
  private static void respondWithRun(RoutingContext ctx, String id, Future<JsonObject> read) {
    read.onComplete(ar -> {
      if (ar.failed()) {
        failed(ctx, ar.cause());
      } else if (ar.result() == null) {
        ApiError.send(ctx, 404, "id", "unknown run " + id);
      } else {
        respond(ctx, 200, ar.result());
      }
    });
  }

  /**
   * Wakes this replica's dispatchers for a callback the request scheduled, unless its commit's NOTIFY does: the two
   * signals for one commit cost the dispatchers a claim each (the NOTIFY arrives first, at the commit).
   */
  private void wakeIfTerminal(JsonObject run, boolean notified) {
    if (RunStatus.isTerminal(run.getString("status")) && run.getString("callback_url") != null
      && workListener.mustWake(notified)) {
      DispatchVerticle.wakeOne(vertx);
    }
  }

  private static String runId(RoutingContext ctx) {
    return RequestParams.runId(ctx);
  }

  private static JsonObject jsonBody(RoutingContext ctx) {
    Object parsed = JsonRequestBody.parsed(ctx);
    if (parsed == null) {
      ApiError.send(ctx, 400, "body", "a JSON object body is required");
      return null;
    }
    if (parsed instanceof JsonObject) {
      return (JsonObject) parsed;
    }
    ApiError.send(ctx, 400, "body", "the body must be a JSON object");
    return null;
  }

  private static void respond(RoutingContext ctx, int status, JsonObject body) {
    // Encoded straight into bytes (no intermediate String to encode to UTF-8 again) by Jackson's generator: the
    // default codec, with jackson-databind on the class path, builds an object mapper's serializers for every answer.
    ctx.response().setStatusCode(status).putHeader("content-type", "application/json")
      .end(STREAMING_JSON.toBuffer(body, false));
  }

  private static void failed(RoutingContext ctx, Throwable err) {
    if (err instanceof RunExistsException) {
      ApiError.send(ctx, 409, "id", err.getMessage());
    } else if (err instanceof PayloadTooLargeException) {
      ApiError.send(ctx, 413, "metadata", err.getMessage());
    } else if (RunStore.isDataError(err)) {
      ApiError.send(ctx, 400, RunStore.refusedField(err), "a value was refused by the database: " + err.getMessage());
    } else {
      LOG.warn("Request {} {} failed: {}", ctx.request().method(), ctx.request().path(), err.getMessage());
      ApiError.send(ctx, 503, null, "the database is unavailable, nothing was changed; try again");
    }
  }
}
