package io.callbackd.deploy;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.cfg.CoercionAction;
import com.fasterxml.jackson.databind.cfg.CoercionInputShape;
import com.fasterxml.jackson.databind.introspect.Annotated;
import com.fasterxml.jackson.databind.introspect.JacksonAnnotationIntrospector;
import com.fasterxml.jackson.databind.type.LogicalType;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.KubernetesResource;
import org.yaml.snakeyaml.Yaml;

import java.io.IOException;
import java.io.InputStream;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The manifests of {@code k8s/}, as kustomize would read them: {@code kustomization.yaml} and every resource it lists,
 * each document turned into the fabric8 model class of its {@code apiVersion} and {@code kind}.
 *
 * <p>Parsing is strict: a field the Kubernetes API does not have (a typo such as {@code readinessprobe}) or a number or
 * boolean where the API wants a string (an unquoted env value) fails, where a lenient parse would keep it aside and
 * the API server would reject or, worse, ignore it.
 */
final class Manifests {

  static final Path DIR = Path.of("k8s");
  static final String KUSTOMIZATION = "kustomization.yaml";

  private static final String RESOURCE_INDEX = "META-INF/services/" + KubernetesResource.class.getName();

  /** A parsed document and the file it came from. */
  record Manifest(String file, HasMetadata resource) {
  }

  final Map<String, Object> kustomization;
  final List<Manifest> manifests;

  private Manifests(Map<String, Object> kustomization, List<Manifest> manifests) {
    this.kustomization = kustomization;
    this.manifests = manifests;
  }

  static Manifests load() throws IOException {
    Map<String, Object> kustomization = new Yaml().load(Files.readString(DIR.resolve(KUSTOMIZATION)));
    Map<String, Class<? extends HasMetadata>> models = modelClasses();
    ObjectMapper mapper = strictMapper();
    List<Manifest> out = new ArrayList<>();
    for (String file : strings(kustomization.get("resources"))) {
      for (Object doc : new Yaml().loadAll(Files.readString(DIR.resolve(file)))) {
        if (doc == null) {
          continue;
        }
        Map<?, ?> map = (Map<?, ?>) doc;
        String apiVersion = String.valueOf(map.get("apiVersion"));
        String kind = String.valueOf(map.get("kind"));
        Class<? extends HasMetadata> type = models.get(apiVersion + " " + kind);
        if (type == null) {
          throw new AssertionError(file + ": no Kubernetes model for apiVersion " + apiVersion + ", kind " + kind);
        }
        try {
          out.add(new Manifest(file, mapper.convertValue(map, type)));
        } catch (IllegalArgumentException e) {
          throw new AssertionError(file + ": not a valid " + kind + ": " + e.getMessage(), e);
        }
      }
    }
    return new Manifests(kustomization, List.copyOf(out));
  }

  /** Every resource of this type. */
  <T extends HasMetadata> List<T> all(Class<T> type) {
    List<T> out = new ArrayList<>();
    for (Manifest m : manifests) {
      if (type.isInstance(m.resource())) {
        out.add(type.cast(m.resource()));
      }
    }
    return out;
  }

  /** The only resource of this type. */
  <T extends HasMetadata> T one(Class<T> type) {
    List<T> all = all(type);
    if (all.size() != 1) {
      throw new AssertionError("expected one " + type.getSimpleName() + " in k8s/, found " + all.size());
    }
    return all.get(0);
  }

  /** The resource of this type with this name. */
  <T extends HasMetadata> T named(Class<T> type, String name) {
    return all(type).stream().filter(r -> name.equals(r.getMetadata().getName())).findFirst()
      .orElseThrow(() -> new AssertionError("no " + type.getSimpleName() + " named " + name + " in k8s/"));
  }

  @SuppressWarnings("unchecked")
  static List<String> strings(Object list) {
    return list == null ? List.of() : (List<String>) list;
  }

  /**
   * {@code "<apiVersion> <kind>"} to model class, for every resource class the fabric8 model jars on the class path
   * declare in their service index (each class's own annotations give its group, version and kind).
   */
  private static Map<String, Class<? extends HasMetadata>> modelClasses() throws IOException {
    Map<String, Class<? extends HasMetadata>> out = new HashMap<>();
    ClassLoader loader = Manifests.class.getClassLoader();
    Enumeration<URL> indexes = loader.getResources(RESOURCE_INDEX);
    while (indexes.hasMoreElements()) {
      String text;
      try (InputStream in = indexes.nextElement().openStream()) {
        text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
      }
      for (String line : text.split("\n")) {
        String name = line.replaceAll("#.*", "").trim();
        if (name.isEmpty()) {
          continue;
        }
        Class<?> c;
        try {
          c = Class.forName(name, false, loader);
        } catch (ClassNotFoundException | LinkageError e) {
          continue;
        }
        if (HasMetadata.class.isAssignableFrom(c)) {
          Class<? extends HasMetadata> type = c.asSubclass(HasMetadata.class);
          out.putIfAbsent(HasMetadata.getApiVersion(type) + " " + HasMetadata.getKind(type), type);
        }
      }
    }
    return out;
  }

  private static ObjectMapper strictMapper() {
    ObjectMapper mapper = new ObjectMapper();
    // The model classes keep unknown fields in "additionalProperties" through an any-setter: turn that off, so that
    // an unknown field is an error.
    mapper.setAnnotationIntrospector(new JacksonAnnotationIntrospector() {
      @Override
      public Boolean hasAnySetter(Annotated a) {
        return Boolean.FALSE;
      }
    });
    mapper.enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);
    // Kubernetes wants strings for env values, ConfigMap data, labels...: `value: 8080` is refused by the API server.
    mapper.coercionConfigFor(LogicalType.Textual)
      .setCoercion(CoercionInputShape.Integer, CoercionAction.Fail)
      .setCoercion(CoercionInputShape.Float, CoercionAction.Fail)
      .setCoercion(CoercionInputShape.Boolean, CoercionAction.Fail);
    return mapper;
  }

  /** The labels of a generator entry of kustomization.yaml ({@code options.labels}), or none. */
  @SuppressWarnings("unchecked")
  static Map<String, Object> generatorLabels(Map<String, Object> generator) {
    Map<String, Object> options = (Map<String, Object>) generator.get("options");
    if (options == null || options.get("labels") == null) {
      return Map.of();
    }
    return new LinkedHashMap<>((Map<String, Object>) options.get("labels"));
  }
}
