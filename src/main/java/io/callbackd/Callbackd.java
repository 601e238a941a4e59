package io.callbackd;

import io.callbackd.api.ApiVerticle;
import io.callbackd.config.CallbackdConfig;
import io.callbackd.config.ConfigException;
import io.callbackd.database.Database;
import io.callbackd.database.RunsTableStatements;
import io.callbackd.database.RunsTable;
import io.callbackd.database.SchemaProbe;
import io.callbackd.delivery.DeliveryRehearsal;
import io.callbackd.delivery.DeliveryStore;
import io.callbackd.delivery.RetryPolicy;
import io.callbackd.webhook.CallbackSigner;
import io.callbackd.webhook.DestinationGuard;
import io.callbackd.delivery.DispatchSettings;
import io.callbackd.delivery.DispatchVerticle;
import io.callbackd.ingest.WorkListener;
import io.callbackd.delivery.SchedulerSettings;
import io.callbackd.delivery.SchedulerVerticle;
import io.callbackd.history.HistoryRetention;
import io.callbackd.history.RetentionVerticle;
import io.callbackd.ingest.RunCompletedConsumerVerticle;
import io.callbackd.ingest.WorkNotificationVerticle;
import io.callbackd.tracing.Tracing;
import io.callbackd.metrics.DeliveryMetrics;
import io.callbackd.metrics.HealthRoutes;
import io.callbackd.metrics.QueueGaugesVerticle;
import io.callbackd.runs.RunStore;
import io.callbackd.secrets.SigningSecretStore;
import io.callbackd.webhook.SecretsCipher;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.micrometer.PrometheusScrapingHandler;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.pgclient.PgBuilder;
import io.vertx.pgclient.PgConnectOptions;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.PoolOptions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;

/**
 * A running callbackd: its database, its connection pool and its verticles, one per role. Start-up order is database,
 * migrations, scheduler, dispatchers, event-bus consumer, HTTP API; shutdown goes the other way, so nothing is
 * accepted that no dispatcher will see.
 */
public final class Callbackd {

  public static final String METRICS_PATH = "/metrics";

  private static final Logger LOG = LoggerFactory.getLogger(Callbackd.class);

  private final Vertx vertx;
  private final Tracing tracing;
  private final CallbackdConfig config;
  private final Database database;
  private final Pool pool;
  private final Pool claims;
  private final List<String> deployments = new ArrayList<>();
  private final DeliveryMetrics metrics;
  private volatile boolean dispatchersDeployed;
  private volatile DeliveryRehearsal.Summary rehearsal;
  private ApiVerticle api;

  private Callbackd(Vertx vertx, CallbackdConfig config, Database database, Pool pool, Pool claims,
                    PrometheusMeterRegistry registry, Tracing tracing) {
    this.vertx = vertx;
    this.tracing = tracing;
    this.config = config;
    this.database = database;
    this.pool = pool;
    this.claims = claims;
    this.metrics = new DeliveryMetrics(registry);
  }

  /** Starts with a registry of its own (Vert.x's own metrics then go elsewhere, or nowhere). */
  public static Future<Callbackd> start(Vertx vertx, CallbackdConfig config) {
    return start(vertx, config, new PrometheusMeterRegistry(PrometheusConfig.DEFAULT));
  }

  /**
   * Starts callbackd. {@code registry} is served at {@code /metrics}: pass the one given to Vert.x's
   * {@code MicrometerMetricsFactory} so that Vert.x's HTTP, pool and JVM metrics appear beside callbackd's.
   */
  public static Future<Callbackd> start(Vertx vertx, CallbackdConfig config, PrometheusMeterRegistry registry) {
    return start(vertx, config, registry, Tracing.off());
  }

  /**
   * Starts callbackd with {@code tracing}: pass the one whose {@link Tracing#vertxTracerFactory()} Vert.x was built
   * with, so that the API requests' spans and callbackd's are one trace.
   */
  public static Future<Callbackd> start(Vertx vertx, CallbackdConfig config, PrometheusMeterRegistry registry,
                                        Tracing tracing) {
    LOG.info("Starting callbackd with {}", config.effective().encode());
    CallbackSigner signer = CallbackSigner.fromConfig(config.signingSecrets);
    if (signer.isEnabled()) {
      LOG.info("Callbacks are signed (Standard Webhooks) with {} secret(s)", signer.secretCount());
    } else {
      LOG.warn("CALLBACKD_SIGNING_SECRETS is not set: callbacks go out unsigned, receivers cannot verify them");
    }
    // Starting PostgreSQL and migrating over JDBC block: both run on a worker thread, once.
    return vertx.executeBlocking(() -> Database.open(config)).compose(db -> {
      Pool pool = PgBuilder.pool()
        .with(new PoolOptions().setMaxSize(config.pgPoolSize).setMaxWaitQueueSize(10_000))
        .connectingTo(poolConnectOptions(db))
        .using(vertx)
        .build();
      // The claims' own connections, one per dispatcher (each makes one claim at a time).
      Pool claims = PgBuilder.pool()
        .with(new PoolOptions().setMaxSize(config.dispatcherInstances).setMaxWaitQueueSize(10_000))
        .connectingTo(claimConnectOptions(db))
        .using(vertx)
        .build();
      Callbackd app = new Callbackd(vertx, config, db, pool, claims, registry, tracing);
      return app.deploy().map(app).recover(err -> app.stop().transform(v -> Future.failedFuture(err)));
    });
  }

  private Future<Void> deploy() {
    // The configuration is plain values; the webhook primitives built from them are shared by the verticles.
    CallbackSigner signer = CallbackSigner.fromConfig(config.signingSecrets);
    DestinationGuard guard = DestinationGuard.fromConfig(config.allowPrivateDestinations, config.allowedNetworks);
    SecretsCipher cipher = SecretsCipher.fromConfig(config.secretsKey, config.secretsKeyPrevious);
    SigningSecretStore secrets = new SigningSecretStore(pool);
    RunsTableStatements runsTable = new RunsTableStatements(RunsTable.qualified(config.runsTable),
      database.runsTimestamps());
    RunStore runs = new RunStore(pool, config.maxBody, runsTable);
    DeliveryStore deliveries = new DeliveryStore(pool, claims, runsTable);
    int instances = config.dispatcherInstances;
    WorkListener workListener = new WorkListener();
    api = new ApiVerticle(config, guard, runs, deliveries, secrets, cipher, tracing, workListener, router -> {
      router.get(METRICS_PATH).handler(PrometheusScrapingHandler.create((PrometheusMeterRegistry) metrics.registry()));
      HealthRoutes.mount(router, vertx, new SchemaProbe(pool), database.schemaVersion(), () -> dispatchersDeployed);
    });
    // The outbox trigger gives new callbacks this deployment's first delay and lifetime.
    return deliveries.saveSettings(config.firstDelay(), config.callbackLifetime())
      .compose(v -> record(vertx.deployVerticle(new RetentionVerticle(new HistoryRetention(pool), config.retention,
        config.purgeInterval, metrics))))
      .compose(v -> resealSigningSecrets(secrets, cipher))
      .compose(v -> record(vertx.deployVerticle(new SchedulerVerticle(schedulerSettings(config), deliveries,
        metrics))))
      .compose(v -> rehearse(signer, secrets, cipher, deliveries))
      .compose(v -> record(vertx.deployVerticle(() -> new DispatchVerticle(dispatchSettings(config), signer, cipher,
        secrets, guard, deliveries, metrics, tracing, instances), new DeploymentOptions().setInstances(instances))))
      .onSuccess(v -> dispatchersDeployed = true)
      .compose(v -> record(vertx.deployVerticle(new QueueGaugesVerticle(deliveries, metrics,
        config.queueGaugeInterval.toMillis()))))
      .compose(v -> record(vertx.deployVerticle(new WorkNotificationVerticle(database.connectOptions(), workListener))))
      .compose(v -> record(vertx.deployVerticle(new RunCompletedConsumerVerticle(pool, runs, deliveries,
        config.maxBody, guard, tracing, workListener, config.ingestLinger))))
      .compose(v -> record(vertx.deployVerticle(api)))
      .onSuccess(v -> LOG.info("callbackd is up: API on port {}, {} dispatcher(s)", api.actualPort(), instances));
  }

  /**
   * The delivery rehearsal ({@code warmup_attempts}), before the dispatchers start and so before callbackd is ready:
   * the first real callbacks then find the delivery path loaded and compiled. It never stops start-up.
   */
  private Future<Void> rehearse(CallbackSigner signer, SigningSecretStore secrets, SecretsCipher cipher,
                                DeliveryStore deliveries) {
    if (config.warmupAttempts == 0) {
      return Future.succeededFuture();
    }
    DeliveryRehearsal rehearsal = new DeliveryRehearsal(vertx, signer, secrets, cipher, deliveries,
      new DeliveryStore.BreakerRule(config.breakerFailures, config.breakerReset), config.maxInFlightPerDestination,
      new RetryPolicy(config.retryDelays, config.retryJitter),
      // The same metrics code as the dispatchers', on a registry nobody scrapes: rehearsed callbacks are not counted.
      new DeliveryMetrics(new PrometheusMeterRegistry(PrometheusConfig.DEFAULT)));
    return rehearsal.run(config.warmupAttempts).transform(ar -> {
      if (ar.succeeded()) {
        DeliveryRehearsal.Summary s = ar.result();
        this.rehearsal = s;
        LOG.info("Delivery rehearsed in {} ms: {} attempts to a receiver inside callbackd, {} answered 2xx, "
          + "{} outcome batches, {} outcomes matched a queued callback; then {} ms for the JIT compiler to finish",
          s.took().toMillis(), s.attempts(), s.delivered(), s.outcomeBatches(), s.outcomesHeld(),
          s.compilerWait().toMillis());
      } else {
        LOG.warn("The delivery rehearsal failed ({}); the first callbacks may wait for class loading and compilation",
          String.valueOf(ar.cause()));
      }
      return Future.succeededFuture();
    });
  }

  /**
   * Key rotation: organizations' signing secrets sealed under another key than {@code CALLBACKD_SECRETS_KEY} (that
   * is, under {@code CALLBACKD_SECRETS_KEY_PREVIOUS}) are encrypted again under it. A secret no configured key opens
   * stops start-up: its organization's callbacks could not be signed.
   */
  private Future<Void> resealSigningSecrets(SigningSecretStore secrets, SecretsCipher cipher) {
    return secrets.resealUnder(cipher).compose(done -> {
      List<String> unreadable = done.unreadable();
      if (!unreadable.isEmpty()) {
        return Future.failedFuture(new ConfigException("secrets_key (CALLBACKD_SECRETS_KEY): the signing secrets of "
          + unreadable.size() + " organization(s) (" + String.join(", ", unreadable.subList(0,
          Math.min(5, unreadable.size()))) + (unreadable.size() > 5 ? ", ..." : "") + ") were encrypted under a key "
          + "that is neither CALLBACKD_SECRETS_KEY nor CALLBACKD_SECRETS_KEY_PREVIOUS"
          + (cipher.canSeal() ? "" : " (CALLBACKD_SECRETS_KEY is not set)")
          + ": set the key they were stored with"));
      }
      if (done.resealed() > 0) {
        LOG.info("Re-encrypted {} organization signing secret(s) under CALLBACKD_SECRETS_KEY", done.resealed());
      }
      return Future.succeededFuture();
    });
  }

  private Future<Void> record(Future<String> deployment) {
    return deployment.map(id -> {
      deployments.add(id);
      return null;
    });
  }

  /** What the start-up rehearsal did; empty when it was skipped ({@code warmup_attempts=0}) or failed. */
  public Optional<DeliveryRehearsal.Summary> rehearsal() {
    return Optional.ofNullable(rehearsal);
  }

  public int httpPort() {
    return api.actualPort();
  }

  /** Every HTTP route served, as {@code METHOD path}. */
  public List<String> routes() {
    return api.routes();
  }

  public Pool pool() {
    return pool;
  }

  public CallbackdConfig config() {
    return config;
  }

  /** How the run-time pool's connections reach {@code db}: the statements they cache, how many they pipeline. */
  public static PgConnectOptions poolConnectOptions(Database db) {
    return db.connectOptions()
      .setCachePreparedStatements(true)
      // Claims and outcome batches are long statements run all the time: cached like the others (the default
      // leaves out statements over 2 KiB), they are parsed once per connection, not at every claim.
      .setPreparedStatementCacheSqlLimit(16 * 1024)
      .setPipeliningLimit(256)
      .setReconnectAttempts(0);
  }

  /**
   * How the claims' connections reach {@code db}: as the run-time pool's, with the claims' settings sent when each
   * connection starts ({@link DeliveryStore#CLAIM_SESSION}), so that a claim needs no statement around it.
   */
  public static PgConnectOptions claimConnectOptions(Database db) {
    PgConnectOptions options = poolConnectOptions(db);
    DeliveryStore.CLAIM_SESSION.forEach(options::addProperty);
    return options;
  }

  /** Undeploys in reverse order (the dispatchers drain within the grace period), then closes the pool and database. */
  public Future<Void> stop() {
    dispatchersDeployed = false;
    List<String> reverse = new ArrayList<>(deployments);
    Collections.reverse(reverse);
    deployments.clear();
    Future<Void> chain = Future.succeededFuture();
    for (String id : reverse) {
      chain = chain.compose(v -> vertx.undeploy(id).recover(err -> {
        LOG.warn("Undeploying {} failed: {}", id, err.getMessage());
        return Future.succeededFuture();
      }));
    }
    return chain
      .compose(v -> pool.close())
      .compose(v -> claims.close())
      .compose(v -> vertx.executeBlocking(() -> {
        database.close();
        return null;
      }));
  }

  /** The dispatchers' part of the configuration, as the values they are given. */
  static DispatchSettings dispatchSettings(CallbackdConfig config) {
    return new DispatchSettings(config.retryDelays, config.retryJitter, config.maxInFlight,
      config.maxInFlightPerDestination, config.dnsServers, config.requestTimeout, config.breakerFailures,
      config.breakerReset, config.outcomeLinger, config.claimBatch, config.lease, config.pollInterval,
      config.shutdownGrace);
  }

  /** The scheduler's part of the configuration, as the values it is given. */
  static SchedulerSettings schedulerSettings(CallbackdConfig config) {
    return new SchedulerSettings(config.pollInterval, config.lease, config.breakerIdleEviction, config.requestTimeout,
      config.maxAttempts());
  }
}
