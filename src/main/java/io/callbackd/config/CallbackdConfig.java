package io.callbackd.config;

import io.callbackd.webhook.CallbackSigner;
import io.callbackd.webhook.DestinationGuard;
import io.callbackd.webhook.SecretsCipher;
import io.vertx.config.ConfigRetriever;
import io.vertx.config.ConfigRetrieverOptions;
import io.vertx.config.ConfigStoreOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;

import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Every setting of callbackd, typed and checked once at start-up.
 *
 * <p>Defaults live in {@code conf/config.json}; each key can be overridden by the environment variable
 * {@code CALLBACKD_<KEY>} (upper case). A value that cannot be used stops start-up with a {@link ConfigException}
 * naming the key, so a typo never turns into a silently different behaviour.
 */
public final class CallbackdConfig {

  public static final String ENV_PREFIX = "CALLBACKD_";
  public static final String DEFAULTS_PATH = "conf/config.json";

  private final JsonObject values;

  public final String httpHost;
  public final int httpPort;
  /** How long the HTTP API keeps a connection that carries nothing (0: forever). */
  public final Duration httpIdleTimeout;
  public final String pgUrl;
  public final int pgPoolSize;
  public final Path dataDir;
  /** As root without user namespaces, the account that runs the embedded PostgreSQL. */
  public final String embeddedPgUser;
  /** As root, whether the embedded PostgreSQL may run in a user namespace (where the system allows one). */
  public final boolean embeddedPgUserNamespace;
  public final Duration requestTimeout;
  public final List<Duration> retryDelays;
  public final double retryJitter;
  public final int breakerFailures;
  public final Duration breakerReset;
  public final Duration breakerIdleEviction;
  /** How long final callbacks and attempts are kept in history. */
  public final Duration retention;
  /** How often history older than the retention is purged. */
  public final Duration purgeInterval;
  public final int maxInFlight;
  public final int maxInFlightPerDestination;
  public final int dispatcherInstances;
  /** Vert.x event-loop threads ({@code event_loops}); 0: one per processor the JVM sees. */
  public final int eventLoops;
  /** How long the first event-bus event of a batch may wait for others to share its transaction. */
  public final Duration ingestLinger;
  /** How long a dispatcher's first unwritten outcome may wait for others to share its batch. */
  public final Duration outcomeLinger;
  public final int claimBatch;
  /** Attempts of the delivery rehearsal made before the dispatchers start (0: none). */
  public final int warmupAttempts;
  public final Duration lease;
  public final Duration pollInterval;
  public final Duration shutdownGrace;
  public final int maxBody;
  public final Duration queueGaugeInterval;
  public final String logFormat;
  public final String runsTable;
  public final double redeliverRate;
  public final boolean cluster;
  public final String clusterHost;
  public final int clusterPort;
  public final int clusterBusPort;
  public final List<String> clusterMembers;
  public final String clusterKubernetesService;
  public final String clusterKubernetesNamespace;
  /** {@code whsec_} secrets, comma-separated, newest first (empty: unsigned); checked here, used by the signer. */
  public final String signingSecrets;
  public final boolean allowPrivateDestinations;
  /** CIDRs, comma-separated; checked here, used by the destination guard. */
  public final String allowedNetworks;
  public final List<String> apiTokens;
  /** AES key (32 bytes, base64) that encrypts organizations' signing secrets at rest; empty: they cannot be set. */
  public final String secretsKey;
  /** A former {@link #secretsKey}, accepted for decryption only; what it sealed is re-encrypted at start-up. */
  public final String secretsKeyPrevious;
  /**
   * DNS servers that resolve callback destinations ({@code dns_servers}); empty: the system resolver. Addresses only
   * (a server named by a host name would itself need resolving).
   */
  public final List<InetSocketAddress> dnsServers;

  private CallbackdConfig(JsonObject values) {
    this.values = values;
    httpHost = string("http_host", false);
    httpPort = integer("http_port", 0, 65535);
    httpIdleTimeout = duration("http_idle_timeout", Duration.ZERO);
    pgUrl = pgUrl(string("pg_url", true));
    pgPoolSize = integer("pg_pool_size", 1, 1000);
    dataDir = Path.of(string("data_dir", false));
    embeddedPgUser = string("embedded_pg_user", false);
    embeddedPgUserNamespace = bool("embedded_pg_user_namespace");
    requestTimeout = duration("request_timeout", Duration.ofMillis(1));
    retryDelays = durations("retry_delays");
    retryJitter = fraction("retry_jitter");
    breakerFailures = integer("breaker_failures", 1, 1_000_000);
    breakerReset = duration("breaker_reset", Duration.ofMillis(1));
    breakerIdleEviction = duration("breaker_idle_eviction", Duration.ofSeconds(1));
    retention = duration("retention", Duration.ofSeconds(1));
    purgeInterval = duration("purge_interval", Duration.ofSeconds(1));
    maxInFlight = integer("max_in_flight", 1, 1_000_000);
    maxInFlightPerDestination = integer("max_in_flight_per_destination", 1, 1_000_000);
    dispatcherInstances = integer("dispatcher_instances", 1, 256);
    eventLoops = integer("event_loops", 0, 1024);
    // A producer's reply, or the runs row's callback columns, wait for them: beyond a second a linger is a delay,
    // not a batching window.
    ingestLinger = duration("ingest_linger", Duration.ZERO, Duration.ofSeconds(1));
    outcomeLinger = duration("outcome_linger", Duration.ZERO, Duration.ofSeconds(1));
    claimBatch = integer("claim_batch", 1, 10_000);
    warmupAttempts = integer("warmup_attempts", 0, 100_000);
    lease = duration("lease", Duration.ofSeconds(1));
    pollInterval = duration("poll_interval", Duration.ofMillis(10));
    shutdownGrace = duration("shutdown_grace", Duration.ZERO);
    maxBody = integer("max_body", 1024, 64 * 1024 * 1024);
    queueGaugeInterval = duration("queue_gauge_interval", Duration.ofMillis(100));
    logFormat = string("log_format", false);
    if (!logFormat.equals("plain") && !logFormat.equals("json")) {
      throw new ConfigException("log_format (" + env("log_format") + ") must be plain or json, got '" + logFormat + "'");
    }
    runsTable = string("runs_table", false);
    if (!runsTable.matches("[A-Za-z_][A-Za-z0-9_$]*(\\.[A-Za-z_][A-Za-z0-9_$]*)?")) {
      throw new ConfigException("runs_table (" + env("runs_table") + ") must be a table name, optionally "
        + "schema-qualified (schema.table), got '" + runsTable + "'");
    }
    redeliverRate = positive("redeliver_rate");
    cluster = bool("cluster");
    clusterHost = string("cluster_host", true);
    clusterPort = integer("cluster_port", 1, 65535);
    clusterBusPort = integer("cluster_bus_port", 0, 65535);
    clusterMembers = list("cluster_members");
    clusterKubernetesService = string("cluster_kubernetes_service", true);
    clusterKubernetesNamespace = string("cluster_kubernetes_namespace", true);
    signingSecrets = string("signing_secrets", true);
    allowPrivateDestinations = bool("allow_private_destinations");
    allowedNetworks = string("allowed_networks", true);
    // Plain values here; the signer and the guard are built where callbackd is wired. Both are parsed once now, so
    // that a value that cannot be used stops start-up naming its key.
    try {
      CallbackSigner.fromConfig(signingSecrets);
    } catch (IllegalArgumentException e) {
      throw new ConfigException("signing_secrets (" + env("signing_secrets") + "): " + e.getMessage());
    }
    try {
      DestinationGuard.fromConfig(allowPrivateDestinations, allowedNetworks);
    } catch (IllegalArgumentException e) {
      throw new ConfigException("allowed_networks (" + env("allowed_networks") + "): " + e.getMessage());
    }
    apiTokens = tokens("api_tokens");
    secretsKey = string(SecretsCipher.KEY_CONFIG, true);
    secretsKeyPrevious = string(SecretsCipher.PREVIOUS_KEY_CONFIG, true);
    try {
      SecretsCipher.fromConfig(secretsKey, secretsKeyPrevious);
    } catch (IllegalArgumentException e) {
      String key = e.getMessage().startsWith(SecretsCipher.PREVIOUS_KEY_CONFIG) ? SecretsCipher.PREVIOUS_KEY_CONFIG
        : SecretsCipher.KEY_CONFIG;
      throw new ConfigException(key + " (" + env(key) + "): " + e.getMessage());
    }
    dnsServers = dnsServers("dns_servers");
    if (lease.compareTo(requestTimeout.multipliedBy(3)) < 0) {
      throw new ConfigException("lease (" + ENV_PREFIX + "LEASE) must be at least three times request_timeout, so that a "
        + "slow attempt is never taken over by another dispatcher; got lease " + Durations.format(lease)
        + " and request_timeout " + Durations.format(requestTimeout));
    }
  }

  /** Loads {@code conf/config.json} (from the working directory, else from the jar), then the overrides, then the environment. */
  public static Future<CallbackdConfig> load(Vertx vertx, JsonObject overrides, boolean readEnvironment) {
    ConfigRetrieverOptions options = new ConfigRetrieverOptions()
      .setIncludeDefaultStores(false)
      .addStore(new ConfigStoreOptions().setType("file").setFormat("json")
        .setConfig(new JsonObject().put("path", DEFAULTS_PATH)))
      .addStore(new ConfigStoreOptions().setType("json").setConfig(overrides == null ? new JsonObject() : overrides));
    if (readEnvironment) {
      // Only CALLBACKD_* variables: the rest of the environment (which may hold other programs' secrets) is never
      // read into the configuration, nor logged with it.
      JsonObject env = new JsonObject();
      System.getenv().forEach((k, v) -> {
        if (k.startsWith(ENV_PREFIX)) {
          env.put(k, v);
        }
      });
      options.addStore(new ConfigStoreOptions().setType("json").setConfig(env));
    }
    ConfigRetriever retriever = ConfigRetriever.create(vertx, options);
    return retriever.getConfig()
      .eventually(() -> {
        retriever.close();
        return Future.succeededFuture();
      })
      .map(CallbackdConfig::fromMerged);
  }

  /** Builds the configuration from merged JSON in which {@code CALLBACKD_*} entries win over plain keys. */
  public static CallbackdConfig fromMerged(JsonObject merged) {
    JsonObject values = new JsonObject();
    for (Map.Entry<String, Object> e : merged) {
      if (!e.getKey().startsWith(ENV_PREFIX) && e.getKey().matches("[a-z][a-z0-9_]*")) {
        values.put(e.getKey(), e.getValue());
      }
    }
    for (Map.Entry<String, Object> e : merged) {
      if (e.getKey().startsWith(ENV_PREFIX)) {
        String key = e.getKey().substring(ENV_PREFIX.length()).toLowerCase(Locale.ROOT);
        if (values.containsKey(key)) {
          values.put(key, e.getValue());
        }
      }
    }
    return new CallbackdConfig(values);
  }

  /** The effective values, for the start-up log: secrets are replaced by how many there are. */
  public JsonObject effective() {
    JsonObject copy = values.copy();
    copy.put("signing_secrets", CallbackSigner.fromConfig(signingSecrets).secretCount() + " secret(s)");
    copy.put("api_tokens", apiTokens.size() + " token(s)");
    copy.put(SecretsCipher.KEY_CONFIG, secretsKey.isEmpty() ? "not set" : "set");
    copy.put(SecretsCipher.PREVIOUS_KEY_CONFIG, secretsKeyPrevious.isEmpty() ? "not set" : "set");
    if (!pgUrl.isEmpty()) {
      copy.put("pg_url", redactUrl(pgUrl));
    }
    return copy;
  }

  public boolean embeddedDatabase() {
    return pgUrl.isEmpty();
  }

  /**
   * How many event-loop threads Vert.x runs: {@code event_loops}, or one per processor the JVM sees (its CPU limit in
   * a container). Vert.x's own default is two per processor; every event, claim and outcome crosses between the
   * verticles' event loops, and each crossing to a sleeping thread is a wake-up and a context switch: with fewer
   * threads more of those crossings stay on a thread that is already running (README, "The event bus, measured").
   */
  public int eventLoopThreads() {
    return eventLoops > 0 ? eventLoops : Runtime.getRuntime().availableProcessors();
  }

  public int maxAttempts() {
    return retryDelays.size();
  }

  /** The delay before a callback's first attempt (the schedule's first entry, usually 0s). */
  public Duration firstDelay() {
    return retryDelays.get(0);
  }

  /**
   * How long a callback may live: the schedule's span (the sum of its delays) stretched by the jitter. Its last
   * attempt starts by then; a callback still waiting then (an open breaker, a paused destination) fails, saying why.
   */
  public Duration callbackLifetime() {
    long spanMs = 0;
    for (Duration d : retryDelays) {
      spanMs += d.toMillis();
    }
    return Duration.ofMillis((long) Math.ceil(spanMs * (1 + retryJitter)));
  }

  private static String redactUrl(String url) {
    return url.replaceAll("://[^@/]*@", "://***@").replaceAll("(?i)([?&]password=)[^&]*", "$1***");
  }

  private Object raw(String key) {
    if (!values.containsKey(key)) {
      throw new ConfigException(key + " (" + env(key) + ") is missing from " + DEFAULTS_PATH);
    }
    return values.getValue(key);
  }

  private static String env(String key) {
    return ENV_PREFIX + key.toUpperCase(Locale.ROOT);
  }

  private String string(String key, boolean emptyAllowed) {
    Object v = raw(key);
    String s = v == null ? "" : String.valueOf(v).trim();
    if (!emptyAllowed && s.isEmpty()) {
      throw new ConfigException(key + " (" + env(key) + ") must not be empty");
    }
    return s;
  }

  private boolean bool(String key) {
    Object v = raw(key);
    if (v instanceof Boolean) {
      return (Boolean) v;
    }
    String s = String.valueOf(v).trim().toLowerCase(Locale.ROOT);
    if (s.equals("true") || s.equals("false")) {
      return Boolean.parseBoolean(s);
    }
    throw new ConfigException(key + " (" + env(key) + ") must be true or false, got '" + v + "'");
  }

  private double positive(String key) {
    Object v = raw(key);
    try {
      double d = v instanceof Number ? ((Number) v).doubleValue() : Double.parseDouble(String.valueOf(v).trim());
      if (d > 0 && d <= 1_000_000) {
        return d;
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    throw new ConfigException(key + " (" + env(key) + ") must be a number above 0, got '" + v + "'");
  }

  private List<String> list(String key) {
    String text = string(key, true);
    List<String> out = new java.util.ArrayList<>();
    for (String part : text.split(",")) {
      if (!part.isBlank()) {
        out.add(part.trim());
      }
    }
    return List.copyOf(out);
  }

  private List<String> tokens(String key) {
    String text = string(key, true);
    if (text.isEmpty()) {
      return List.of();
    }
    List<String> out = new java.util.ArrayList<>();
    String[] parts = text.split(",", -1);
    for (int i = 0; i < parts.length; i++) {
      String t = parts[i].trim();
      if (t.isEmpty() || t.chars().anyMatch(c -> c <= ' ' || c > '~')) {
        // The token itself is never echoed: only its position.
        throw new ConfigException(key + " (" + env(key) + "): entry " + (i + 1)
          + " is empty or has characters other than visible ASCII");
      }
      out.add(t);
    }
    return List.copyOf(out);
  }

  /** {@code 10.0.0.2}, {@code 10.0.0.2:5353}, {@code [fd00::53]:53} or {@code fd00::53}; port 53 when absent. */
  private List<InetSocketAddress> dnsServers(String key) {
    List<InetSocketAddress> out = new java.util.ArrayList<>();
    List<String> entries = list(key);
    for (int i = 0; i < entries.size(); i++) {
      String entry = entries.get(i);
      String host = entry;
      String port = null;
      if (entry.startsWith("[")) {
        int close = entry.indexOf(']');
        host = close < 0 ? "" : entry.substring(1, close);
        port = close >= 0 && entry.startsWith(":", close + 1) ? entry.substring(close + 2) : null;
        if (close < 0 || (close + 1 < entry.length() && port == null)) {
          host = "";
        }
      } else if (entry.indexOf(':') == entry.lastIndexOf(':') && entry.indexOf(':') >= 0) {
        host = entry.substring(0, entry.indexOf(':'));
        port = entry.substring(entry.indexOf(':') + 1);
      }
      // Parsed as a literal only: NetUtil never performs a lookup.
      java.net.InetAddress address = io.netty.util.NetUtil.createInetAddressFromIpAddressString(host);
      int portNumber = -1;
      try {
        portNumber = port == null ? 53 : Integer.parseInt(port);
      } catch (NumberFormatException e) {
        // reported below
      }
      if (address == null || portNumber < 1 || portNumber > 65535) {
        throw new ConfigException(key + " (" + env(key) + "): entry " + (i + 1) + " ('" + entry + "') must be an IP "
          + "address with an optional port, such as 10.0.0.2, 10.0.0.2:5353 or [fd00::53]:53");
      }
      out.add(new InetSocketAddress(address, portNumber));
    }
    return List.copyOf(out);
  }

  private int integer(String key, int min, int max) {
    Object v = raw(key);
    long n;
    try {
      n = v instanceof Number ? ((Number) v).longValue() : Long.parseLong(String.valueOf(v).trim());
      if (v instanceof Number && ((Number) v).doubleValue() != n) {
        throw new NumberFormatException();
      }
    } catch (NumberFormatException e) {
      throw new ConfigException(key + " (" + env(key) + ") must be a whole number between " + min + " and " + max
        + ", got '" + v + "'");
    }
    if (n < min || n > max) {
      throw new ConfigException(key + " (" + env(key) + ") must be between " + min + " and " + max + ", got " + n);
    }
    return (int) n;
  }

  private double fraction(String key) {
    Object v = raw(key);
    double d;
    try {
      d = v instanceof Number ? ((Number) v).doubleValue() : Double.parseDouble(String.valueOf(v).trim());
    } catch (NumberFormatException e) {
      throw new ConfigException(key + " (" + env(key) + ") must be a number between 0 and 1, got '" + v + "'");
    }
    if (!(d >= 0 && d <= 1)) {
      throw new ConfigException(key + " (" + env(key) + ") must be a number between 0 and 1, got " + v);
    }
    return d;
  }

  private Duration duration(String key, Duration min, Duration max) {
    Duration d = duration(key, min);
    if (d.compareTo(max) > 0) {
      throw new ConfigException(key + " (" + env(key) + ") must be at most " + Durations.format(max) + ", got "
        + Durations.format(d));
    }
    return d;
  }

  private Duration duration(String key, Duration min) {
    Duration d;
    try {
      d = Durations.parse(String.valueOf(raw(key)));
    } catch (IllegalArgumentException e) {
      throw new ConfigException(key + " (" + env(key) + "): " + e.getMessage());
    }
    if (d.compareTo(min) < 0) {
      throw new ConfigException(key + " (" + env(key) + ") must be at least " + Durations.format(min));
    }
    return d;
  }

  private List<Duration> durations(String key) {
    try {
      List<Duration> list = Durations.parseList(String.valueOf(raw(key)));
      if (list.size() > 100) {
        throw new IllegalArgumentException("at most 100 attempts");
      }
      return List.copyOf(list);
    } catch (IllegalArgumentException e) {
      throw new ConfigException(key + " (" + env(key) + "): " + e.getMessage());
    }
  }

  private String pgUrl(String url) {
    if (url.isEmpty()) {
      return url;
    }
    try {
      URI uri = URI.create(url);
      if (!"postgresql".equals(uri.getScheme()) && !"postgres".equals(uri.getScheme())) {
        throw new IllegalArgumentException();
      }
      if (uri.getHost() == null) {
        throw new IllegalArgumentException();
      }
    } catch (IllegalArgumentException e) {
      throw new ConfigException("pg_url (" + env("pg_url") + ") must look like postgresql://user:pass@host:port/db, got '"
        + redactUrl(url) + "'");
    }
    return url;
  }
}
