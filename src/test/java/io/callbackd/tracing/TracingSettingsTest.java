package io.callbackd.tracing;

import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TracingSettingsTest {

  private static boolean on(Map<String, String> env, Map<String, String> props) {
    return TracingSettings.exporterConfigured(env, props);
  }

  @Test
  void nothingConfiguredMeansNoSdk() {
    assertFalse(on(Map.of(), Map.of()));
    assertFalse(on(Map.of("OTEL_SERVICE_NAME", "callbackd"), Map.of()));
  }

  @Test
  void anExporterOrAnEndpointTurnsItOn() {
    assertTrue(on(Map.of("OTEL_TRACES_EXPORTER", "otlp"), Map.of()));
    assertTrue(on(Map.of("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"), Map.of()));
    assertTrue(on(Map.of("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://collector:4318/v1/traces"), Map.of()));
    assertTrue(on(Map.of(), Map.of("otel.traces.exporter", "otlp")));
    assertTrue(on(Map.of(), Map.of("otel.exporter.otlp.endpoint", "http://collector:4318")));
    assertTrue(on(Map.of("OTEL_TRACES_EXPORTER", "none,otlp"), Map.of()));
  }

  @Test
  void noneOrADisabledSdkTurnsItOffWhateverTheEndpoint() {
    assertFalse(on(Map.of("OTEL_TRACES_EXPORTER", "none", "OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), Map.of()));
    assertFalse(on(Map.of("OTEL_SDK_DISABLED", "true", "OTEL_TRACES_EXPORTER", "otlp"), Map.of()));
    assertFalse(on(Map.of("OTEL_TRACES_EXPORTER", " "), Map.of()));
  }

  @Test
  void aSystemPropertyWinsOverItsEnvironmentVariable() {
    assertFalse(on(Map.of("OTEL_TRACES_EXPORTER", "otlp"), Map.of("otel.traces.exporter", "none")));
    assertTrue(on(Map.of("OTEL_TRACES_EXPORTER", "none"), Map.of("otel.traces.exporter", "otlp")));
  }
}
