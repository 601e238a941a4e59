package io.callbackd.tracing;

import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.propagation.ContextPropagators;
import io.opentelemetry.context.propagation.TextMapGetter;
import io.opentelemetry.context.propagation.TextMapPropagator;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.autoconfigure.AutoConfiguredOpenTelemetrySdk;
import io.vertx.core.MultiMap;
import io.vertx.core.spi.VertxTracerFactory;
import io.vertx.tracing.opentelemetry.OpenTelemetryTracingFactory;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;

/**
 * callbackd's traces. With an exporter configured by the standard {@code OTEL_*} settings
 * ({@link TracingSettings}), an OpenTelemetry SDK is built by the SDK's autoconfiguration, Vert.x traces its HTTP
 * server (the API requests) with it, and callbackd adds the spans of scheduling and of every attempt. Without one, no
 * SDK is started: nothing is recorded or exported, and a caller's trace context is still passed through to the
 * receivers unchanged (the W3C propagator alone).
 */
public final class Tracing implements AutoCloseable {

  public static final String SCHEDULE_SPAN = "callbackd.schedule";
  public static final String ATTEMPT_SPAN = "callbackd.attempt";
  public static final AttributeKey<String> RUN_ID = AttributeKey.stringKey("callbackd.run_id");
  public static final AttributeKey<String> RUN_STATUS = AttributeKey.stringKey("callbackd.run_status");
  public static final AttributeKey<String> DESTINATION = AttributeKey.stringKey("callbackd.destination");
  public static final AttributeKey<String> WEBHOOK_ID = AttributeKey.stringKey("callbackd.webhook_id");
  public static final AttributeKey<Long> ATTEMPT = AttributeKey.longKey("callbackd.attempt");
  public static final AttributeKey<String> OUTCOME = AttributeKey.stringKey("callbackd.outcome");
  public static final AttributeKey<String> SOURCE = AttributeKey.stringKey("callbackd.source");
  public static final AttributeKey<Long> HTTP_STATUS = AttributeKey.longKey("http.response.status_code");

  private static final TextMapGetter<MultiMap> HEADERS = new TextMapGetter<>() {
    @Override
    public Iterable<String> keys(MultiMap carrier) {
      return carrier.names();
    }

    @Override
    public String get(MultiMap carrier, String key) {
      return carrier == null ? null : carrier.get(key);
    }
  };

  private static final TextMapGetter<TraceContext> STORED = new TextMapGetter<>() {
    @Override
    public Iterable<String> keys(TraceContext carrier) {
      return java.util.List.of("traceparent", "tracestate");
    }

    @Override
    public String get(TraceContext carrier, String key) {
      if (carrier == null) {
        return null;
      }
      return "traceparent".equals(key) ? carrier.traceparent() : "tracestate".equals(key) ? carrier.tracestate() : null;
    }
  };

  private final OpenTelemetrySdk sdk;
  private final Tracer tracer;
  private final TextMapPropagator w3c = W3CTraceContextPropagator.getInstance();

  private Tracing(OpenTelemetrySdk sdk) {
    this.sdk = sdk;
    OpenTelemetry otel = sdk != null ? sdk
      : OpenTelemetry.propagating(ContextPropagators.create(W3CTraceContextPropagator.getInstance()));
    this.tracer = otel.getTracer("io.callbackd");
  }

  /** No SDK: nothing recorded, trace context passed through. */
  public static Tracing off() {
    return new Tracing(null);
  }

  /** From the process's {@code OTEL_*} environment variables and {@code otel.*} system properties. */
  public static Tracing fromEnvironment() {
    return configure(Map.of());
  }

  /**
   * From the process's settings, {@code defaults} (otel.* properties) filling what they leave unset. Only traces are
   * exported: metrics and logs stay with callbackd's own /metrics and log unless an OTEL_* setting asks otherwise.
   */
  public static Tracing configure(Map<String, String> defaults) {
    Map<String, String> props = new HashMap<>(defaults);
    Properties system = System.getProperties();
    for (String name : system.stringPropertyNames()) {
      props.put(name, system.getProperty(name));
    }
    if (!TracingSettings.exporterConfigured(System.getenv(), props)) {
      return off();
    }
    Map<String, String> base = new LinkedHashMap<>();
    base.put("otel.service.name", "callbackd");
    base.put("otel.metrics.exporter", "none");
    base.put("otel.logs.exporter", "none");
    // OTLP over HTTP, sent with the JDK's client: the build ships no gRPC sender.
    base.put("otel.exporter.otlp.protocol", "http/protobuf");
    base.putAll(defaults);
    OpenTelemetrySdk sdk = AutoConfiguredOpenTelemetrySdk.builder()
      .addPropertiesSupplier(() -> base)
      // Closed by callbackd's own shutdown, after the last attempt's span has ended.
      .disableShutdownHook()
      .build()
      .getOpenTelemetrySdk();
    return new Tracing(sdk);
  }

  /** True when spans are recorded and exported. */
  public boolean exporting() {
    return sdk != null;
  }

  /** The tracer factory Vert.x is built with (its HTTP server's spans), or null when tracing is off. */
  public VertxTracerFactory vertxTracerFactory() {
    return sdk == null ? null : new OpenTelemetryTracingFactory(sdk);
  }

  /**
   * The parent of a terminal update's spans: the current span (the API request's or event-bus message's span, when
   * Vert.x traces them), else the trace context in the request's or message's headers, else none.
   */
  public Context parentOf(MultiMap headers) {
    Context current = Context.current();
    if (Span.fromContext(current).getSpanContext().isValid()) {
      return current;
    }
    return headers == null ? Context.root() : w3c.extract(Context.root(), headers, HEADERS);
  }

  /** Starts the span of scheduling a run's callback (the terminal update's transaction). */
  public Span startSchedule(Context parent, String runId, String status, String source) {
    return tracer.spanBuilder(SCHEDULE_SPAN).setParent(parent).setSpanKind(SpanKind.INTERNAL)
      .setAttribute(RUN_ID, runId).setAttribute(RUN_STATUS, status == null ? "" : status)
      .setAttribute(SOURCE, source).startSpan();
  }

  /**
   * Begins scheduling: for a request that makes run {@code runId} terminal, the scheduling span (a child of the
   * request's) and the trace context its callback keeps; for any other, nothing. The current span (the API request's)
   * gets the run id.
   */
  public Scheduling schedule(MultiMap headers, String runId, String status, boolean terminal, String source) {
    Span request = Span.current();
    if (request.isRecording()) {
      request.setAttribute(RUN_ID, runId);
    }
    if (!terminal) {
      return Scheduling.NONE;
    }
    // Without an SDK and without a caller's trace context there is nothing to record or pass on: the span would be
    // the invalid one and its context none, so none is made.
    if (sdk == null && !request.getSpanContext().isValid()
      && (headers == null || headers.get("traceparent") == null)) {
      return Scheduling.NONE;
    }
    Span span = startSchedule(parentOf(headers), runId, status, source);
    return new Scheduling(span, contextOf(span));
  }

  /** A scheduling span and the trace context its callback keeps (null: none). */
  public record Scheduling(Span span, TraceContext trace) {

    static final Scheduling NONE = new Scheduling(Span.getInvalid(), null);

    /** Ends the span: the terminal update committed (or not: {@code failure}). */
    public void end(Throwable failure) {
      if (failure != null) {
        span.setStatus(StatusCode.ERROR, String.valueOf(failure.getMessage()));
      }
      span.end();
    }
  }

  /**
   * Starts a new trace for a callback scheduled without trace context (its run made terminal by plain SQL): a root
   * scheduling span, ended at once, whose context the callback keeps; null when tracing is off.
   */
  public TraceContext startTrace(String runId) {
    if (sdk == null) {
      return null;
    }
    Span span = tracer.spanBuilder(SCHEDULE_SPAN).setNoParent().setSpanKind(SpanKind.INTERNAL)
      .setAttribute(RUN_ID, runId).setAttribute(SOURCE, "none").startSpan();
    span.end();
    return contextOf(span);
  }

  /** The span's trace context as it is kept with the callback; null when there is none to keep. */
  public TraceContext contextOf(Span span) {
    Map<String, String> out = new HashMap<>();
    w3c.inject(Context.root().with(span), out, (carrier, k, v) -> carrier.put(k, v));
    String traceparent = out.get("traceparent");
    return traceparent == null ? null : new TraceContext(traceparent, out.get("tracestate"));
  }

  /**
   * Starts an attempt's span, a child of the callback's stored trace context, or the root of a new trace when it has
   * none (the run was made terminal by plain SQL).
   */
  public Span startAttempt(TraceContext stored, String runId, String destination, String webhookId, int attempt) {
    Context parent = stored == null ? Context.root() : w3c.extract(Context.root(), stored, STORED);
    var builder = tracer.spanBuilder(ATTEMPT_SPAN).setSpanKind(SpanKind.CLIENT)
      .setAttribute(RUN_ID, runId).setAttribute(DESTINATION, destination).setAttribute(WEBHOOK_ID, webhookId)
      .setAttribute(ATTEMPT, (long) attempt);
    if (Span.fromContext(parent).getSpanContext().isValid()) {
      builder.setParent(parent);
    } else {
      builder.setNoParent();
    }
    return builder.startSpan();
  }

  /** The headers that make the receiver's request a child of {@code span}: traceparent, and tracestate if any. */
  public Map<String, String> headersFor(Span span) {
    Map<String, String> out = new LinkedHashMap<>();
    w3c.inject(Context.root().with(span), out, (carrier, k, v) -> carrier.put(k, v));
    return out;
  }

  /** Ends an attempt's span with its outcome (delivered, retry, failed, gone) and the receiver's status code. */
  public static void endAttempt(Span span, String outcome, Integer statusCode, String error) {
    span.setAttribute(OUTCOME, outcome);
    if (statusCode != null) {
      span.setAttribute(HTTP_STATUS, statusCode.longValue());
    }
    if (!"delivered".equals(outcome)) {
      span.setStatus(StatusCode.ERROR, error == null ? outcome : error);
    }
    span.end();
  }

  /** Exports what is left and stops the SDK; blocks, so not on an event loop. */
  @Override
  public void close() {
    if (sdk != null) {
      sdk.shutdown().join(10, TimeUnit.SECONDS);
    }
  }
}
