package io.callbackd.tracing;

import io.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
import io.opentelemetry.proto.common.v1.AnyValue;
import io.opentelemetry.proto.common.v1.KeyValue;
import io.opentelemetry.proto.trace.v1.ResourceSpans;
import io.opentelemetry.proto.trace.v1.ScopeSpans;
import io.opentelemetry.proto.trace.v1.Span;
import io.callbackd.support.Await;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An OTLP/HTTP trace endpoint: {@code POST /v1/traces} with protobuf, decoded with the protocol's own classes. Keeps
 * every span it receives, with the service name of its resource.
 */
public final class OtlpCollector implements AutoCloseable {

  public record Received(Span span, String serviceName) {
    public String traceId() {
      return HexFormat.of().formatHex(span.getTraceId().toByteArray());
    }

    public String spanId() {
      return HexFormat.of().formatHex(span.getSpanId().toByteArray());
    }

    public String parentSpanId() {
      return HexFormat.of().formatHex(span.getParentSpanId().toByteArray());
    }

    public String name() {
      return span.getName();
    }

    /** The attribute's value as text (strings as they are, integers in decimal), null when absent. */
    public String attribute(String key) {
      for (KeyValue kv : span.getAttributesList()) {
        if (kv.getKey().equals(key)) {
          AnyValue v = kv.getValue();
          return v.hasIntValue() ? String.valueOf(v.getIntValue()) : v.hasStringValue() ? v.getStringValue()
            : v.toString();
        }
      }
      return null;
    }
  }

  private final HttpServer server;
  private final List<Received> spans = new CopyOnWriteArrayList<>();
  private final Map<String, Received> byId = new ConcurrentHashMap<>();
  private final AtomicInteger requests = new AtomicInteger();

  public OtlpCollector(Vertx vertx) {
    server = vertx.createHttpServer().requestHandler(req -> {
      requests.incrementAndGet();
      if (!req.path().equals("/v1/traces")) {
        req.response().setStatusCode(404).end();
        return;
      }
      req.body().onSuccess(body -> {
        try {
          ExportTraceServiceRequest export = ExportTraceServiceRequest.parseFrom(body.getBytes());
          for (ResourceSpans rs : export.getResourceSpansList()) {
            String service = rs.getResource().getAttributesList().stream()
              .filter(kv -> kv.getKey().equals("service.name")).map(kv -> kv.getValue().getStringValue())
              .findFirst().orElse(null);
            for (ScopeSpans ss : rs.getScopeSpansList()) {
              for (Span s : ss.getSpansList()) {
                Received r = new Received(s, service);
                spans.add(r);
                byId.put(r.spanId(), r);
              }
            }
          }
          req.response().putHeader("content-type", "application/x-protobuf").end();
        } catch (Exception e) {
          req.response().setStatusCode(400).end(e.toString());
        }
      });
    });
    Await.result(server.listen(0, "127.0.0.1"), Duration.ofSeconds(10));
  }

  public String endpoint() {
    return "http://127.0.0.1:" + server.actualPort();
  }

  /** How many requests arrived, of any kind. */
  public int requests() {
    return requests.get();
  }

  public List<Received> spans() {
    return new ArrayList<>(spans);
  }

  public Received span(String spanId) {
    return byId.get(spanId);
  }

  @Override
  public void close() {
    server.close();
  }
}
