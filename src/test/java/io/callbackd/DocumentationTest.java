package io.callbackd;

import io.callbackd.delivery.DispatchVerticle;
import io.callbackd.ingest.RunCompletedConsumerVerticle;
import io.callbackd.secrets.OrganizationSigners;
import io.callbackd.support.RunningCallbackd;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The README's tables say exactly what the code does: configuration keys, HTTP routes, event-bus addresses. */
@ExtendWith(VertxExtension.class)
class DocumentationTest {

  private static List<String> section(String heading) throws IOException {
    List<String> lines = Files.readAllLines(Path.of("README.md"));
    List<String> out = new ArrayList<>();
    boolean in = false;
    for (String line : lines) {
      if (line.startsWith("## ")) {
        in = line.equals("## " + heading);
        continue;
      }
      if (in && line.startsWith("| `")) {
        out.add(line);
      }
    }
    assertTrue(!out.isEmpty(), "README has a table under ## " + heading);
    return out;
  }

  private static List<String> cells(String row) {
    List<String> out = new ArrayList<>();
    Matcher m = Pattern.compile("\\|\\s*([^|]*?)\\s*(?=\\|)").matcher(row);
    while (m.find()) {
      out.add(m.group(1).replace("`", ""));
    }
    return out;
  }

  @Test
  void noTextFileCarriesALeftoverMergeConflict() throws IOException {
    List<String> found = new ArrayList<>();
    for (String root : List.of("README.md", "src", "k8s", "conf", "bench", ".ci", "pom.xml", "Dockerfile")) {
      if (!Files.exists(Path.of(root))) {
        continue;
      }
      try (Stream<Path> files = Files.walk(Path.of(root))) {
        for (Path file : (Iterable<Path>) files.filter(Files::isRegularFile)
          .filter(f -> !f.toString().contains("target") && !f.toString().contains("results"))::iterator) {
          String text;
          try {
            text = Files.readString(file);
          } catch (java.nio.charset.MalformedInputException binary) {
            continue;
          }
          for (String line : text.split("\n", -1)) {
            if (line.startsWith("<<<<<<< ") || line.startsWith(">>>>>>> ")) {
              found.add(file + ": " + line);
            }
          }
        }
      }
    }
    assertTrue(found.isEmpty(), "merge conflict markers: " + found);
  }

  @Test
  void everyConfigurationKeyIsInTheTableWithItsVariableAndDefault() throws IOException {
    JsonObject defaults = new JsonObject(Files.readString(Path.of("conf/config.json")));
    Set<String> documented = new TreeSet<>();
    for (String row : section("Configuration")) {
      List<String> c = cells(row);
      String key = c.get(0);
      documented.add(key);
      assertEquals("CALLBACKD_" + key.toUpperCase(Locale.ROOT), c.get(1), row);
      Object value = defaults.getValue(key);
      String expected = value == null || String.valueOf(value).isEmpty() ? "empty" : String.valueOf(value);
      assertEquals(expected, c.get(2), "default of " + key);
    }
    assertEquals(new TreeSet<>(defaults.fieldNames()), documented);
  }

  @Test
  void everyRouteIsInTheApiTable(Vertx vertx) throws IOException {
    Set<String> documented = new TreeSet<>();
    for (String row : section("HTTP API")) {
      List<String> c = cells(row);
      // Path parameters as the router writes them; a static tree as its route does (without the star).
      documented.add(c.get(0) + " " + c.get(1).replaceAll("\\{(\\w+)}", ":$1").replaceAll("/\\*$", "/"));
    }
    try (RunningCallbackd callbackd = new RunningCallbackd(vertx, null)) {
      Set<String> served = new TreeSet<>(callbackd.app().routes());
      assertEquals(served, documented);
    }
  }

  @Test
  void everyEventBusAddressIsInTheTable() throws IOException {
    Set<String> documented = new TreeSet<>();
    for (String row : section("Event bus")) {
      documented.add(cells(row).get(0));
    }
    assertEquals(new TreeSet<>(List.of(RunCompletedConsumerVerticle.ADDRESS, DispatchVerticle.WAKE_ADDRESS,
      DispatchVerticle.WAKE_ONE_ADDRESS, DispatchVerticle.CANCEL_ADDRESS, OrganizationSigners.CHANGED_ADDRESS)), documented);
    assertEquals(addressesInTheSources(), documented, "the addresses the sources name");
  }

  /**
   * Every address the sources give the event bus: each is a constant named *ADDRESS, and every consumer, send,
   * publish and request names one (a literal there would be an address this test cannot see).
   */
  private static Set<String> addressesInTheSources() throws IOException {
    Pattern constant = Pattern.compile("static final String (\\w*ADDRESS) = \"([^\"]+)\"");
    Pattern use = Pattern.compile("eventBus\\(\\)\\s*\\.\\s*(?:consumer|localConsumer|send|publish|request)"
      + "\\(\\s*([^,)]+)");
    Set<String> addresses = new TreeSet<>();
    Set<String> constants = new TreeSet<>();
    List<String> uses = new ArrayList<>();
    List<String> literalUses = new ArrayList<>();
    try (Stream<Path> files = Files.walk(Path.of("src/main/java"))) {
      for (Path f : files.filter(p -> p.toString().endsWith(".java")).toList()) {
        String source = Files.readString(f);
        Matcher m = constant.matcher(source);
        while (m.find()) {
          constants.add(m.group(1));
          addresses.add(m.group(2));
        }
        Matcher u = use.matcher(source);
        while (u.find()) {
          String named = u.group(1).trim();
          if (!named.matches("(\\w+\\.)?\\w*ADDRESS")) {
            literalUses.add(f.getFileName() + ": " + named);
          } else {
            uses.add(named.substring(named.lastIndexOf('.') + 1));
          }
        }
      }
    }
    assertTrue(literalUses.isEmpty(), "event-bus addresses not named by an *ADDRESS constant: " + literalUses);
    assertTrue(constants.containsAll(uses), "addresses used " + uses + ", constants found " + constants);
    return addresses;
  }
}
