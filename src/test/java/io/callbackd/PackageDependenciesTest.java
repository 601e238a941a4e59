package io.callbackd;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The packages depend on each other in one direction only: the webhook primitives are a leaf, configuration is plain
 * values, and the delivery engine reports to metrics through an interface of its own. Read from the sources' import
 * statements and qualified names (comments excluded).
 */
class PackageDependenciesTest {

  private static final Path SOURCES = Path.of("src/main/java/io/callbackd");
  private static final Pattern PACKAGE = Pattern.compile("^package (io\\.callbackd[\\w.]*);", Pattern.MULTILINE);
  private static final Pattern REFERENCE = Pattern.compile("\\b(io\\.callbackd(?:\\.[a-z]\\w*)*)\\.[A-Z]\\w*");

  static Map<String, Set<String>> dependencies() throws IOException {
    Map<String, Set<String>> graph = new TreeMap<>();
    List<Path> files;
    try (Stream<Path> walk = Files.walk(SOURCES)) {
      files = walk.filter(p -> p.toString().endsWith(".java")).toList();
    }
    for (Path file : files) {
      String source = Files.readString(file);
      Matcher pkg = PACKAGE.matcher(source);
      assertTrue(pkg.find(), file + " has no package");
      String self = pkg.group(1);
      String code = source.replaceAll("(?s)/\\*.*?\\*/", "").replaceAll("//[^\\n]*", "")
        .replaceAll("(?m)^package .*$", "");
      Set<String> uses = graph.computeIfAbsent(self, k -> new TreeSet<>());
      Matcher ref = REFERENCE.matcher(code);
      while (ref.find()) {
        if (!ref.group(1).equals(self)) {
          uses.add(ref.group(1));
        }
      }
    }
    return graph;
  }

  @Test
  void theWebhookPrimitivesDependOnNoOtherPackageOfCallbackd() throws IOException {
    assertEquals(Set.of(), dependencies().get("io.callbackd.webhook"));
  }

  @Test
  void configurationIsPlainValues() throws IOException {
    Set<String> uses = dependencies().get("io.callbackd.config");
    assertTrue(uses.stream().allMatch(p -> p.equals("io.callbackd.webhook")), uses.toString());
  }

  @Test
  void theDeliveryEngineIsGivenItsSettingsAsValues() throws IOException {
    // The application wires the engine's settings from its configuration: nothing in delivery reads the configuration
    // object (the configuration package's duration format is a helper it may use).
    try (Stream<Path> files = Files.list(SOURCES.resolve("delivery"))) {
      for (Path f : files.filter(p -> p.toString().endsWith(".java")).toList()) {
        String code = Files.readString(f).replaceAll("(?s)/\\*.*?\\*/", "").replaceAll("//[^\\n]*", "");
        assertTrue(!code.contains("CallbackdConfig"), f + " reads the configuration object");
      }
    }
  }

  @Test
  void noPackageDependsOnItselfThroughOthers() throws IOException {
    Map<String, Set<String>> graph = dependencies();
    List<String> cycles = new ArrayList<>();
    for (String start : graph.keySet()) {
      Deque<String> todo = new ArrayDeque<>(graph.get(start));
      Set<String> seen = new TreeSet<>();
      while (!todo.isEmpty()) {
        String next = todo.pop();
        if (next.equals(start)) {
          cycles.add(start);
          break;
        }
        if (seen.add(next)) {
          todo.addAll(graph.getOrDefault(next, Set.of()));
        }
      }
    }
    assertEquals(List.of(), cycles, "packages in a dependency cycle; the graph: " + graph);
  }
}
