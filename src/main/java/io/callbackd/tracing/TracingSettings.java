package io.callbackd.tracing;

import java.util.Arrays;
import java.util.Locale;
import java.util.Map;

/**
 * Whether the standard OpenTelemetry settings name a trace exporter, read the way the SDK's autoconfiguration reads
 * them: a system property ({@code otel.traces.exporter}) wins over its environment variable
 * ({@code OTEL_TRACES_EXPORTER}). Tracing is on when the exporter is named (and is not {@code none}), or when it is
 * left unset and an OTLP endpoint is given; {@code OTEL_SDK_DISABLED=true} turns it off. Otherwise no SDK is started.
 */
public final class TracingSettings {

  private TracingSettings() {
  }

  /** @param env the environment variables; @param props the system properties (and any other otel.* settings) */
  public static boolean exporterConfigured(Map<String, String> env, Map<String, String> props) {
    if ("true".equalsIgnoreCase(value(env, props, "otel.sdk.disabled"))) {
      return false;
    }
    String exporter = value(env, props, "otel.traces.exporter");
    if (exporter != null) {
      return Arrays.stream(exporter.split(",")).map(String::trim)
        .anyMatch(e -> !e.isEmpty() && !e.equalsIgnoreCase("none"));
    }
    return value(env, props, "otel.exporter.otlp.endpoint") != null
      || value(env, props, "otel.exporter.otlp.traces.endpoint") != null;
  }

  /** The property's value, else its environment variable's (OTEL_TRACES_EXPORTER for otel.traces.exporter). */
  static String value(Map<String, String> env, Map<String, String> props, String property) {
    String v = props.get(property);
    if (v == null || v.isBlank()) {
      v = env.get(property.toUpperCase(Locale.ROOT).replace('.', '_'));
    }
    return v == null || v.isBlank() ? null : v.trim();
  }
}
