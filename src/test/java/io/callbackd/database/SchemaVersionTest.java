package io.callbackd.database;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Versions compare by their numeric parts; a schema serves a build at or above the build's version. */
class SchemaVersionTest {

  private static SchemaVersion v(String text) {
    return SchemaVersion.parse(text);
  }

  @Test
  void partsCompareAsNumbersNotAsText() {
    assertTrue(v("10").compareTo(v("9")) > 0);
    assertTrue(v("9").compareTo(v("10")) < 0);
    assertTrue(v("1.10").compareTo(v("1.9")) > 0);
    assertTrue(v("2").compareTo(v("1.99")) > 0);
    assertTrue(v("1.2.3").compareTo(v("1.2")) > 0);
    assertTrue(v("100000000000000000000").compareTo(v("99999999999999999999")) > 0, "beyond long");
  }

  @Test
  void trailingZerosAndLeadingZerosChangeNothing() {
    assertEquals(0, v("1").compareTo(v("1.0")));
    assertEquals(0, v("1.0.0").compareTo(v("1")));
    assertEquals(0, v("09").compareTo(v("9")));
    assertEquals(v("1"), v("1.0"));
    assertEquals(v("1").hashCode(), v("1.0.0").hashCode());
    assertEquals("1.0", v("1.0").toString(), "written as given");
  }

  @Test
  void underscoresSeparateLikeDots() {
    assertEquals(v("2.1"), v("2_1"));
  }

  @Test
  void sortsAsFlywayOrdersMigrations() {
    List<SchemaVersion> versions = new ArrayList<>(List.of(v("10"), v("1.10"), v("2"), v("1.9"), v("1"), v("9")));
    Collections.sort(versions);
    assertEquals("[1, 1.9, 1.10, 2, 9, 10]", versions.toString());
  }

  @Test
  void rejectsWhatIsNotAVersion() {
    for (String bad : new String[] {null, "", " ", "a", "1.a", "1..2", "1.", ".1", "-1", "1.-2", "V9", "1 2"}) {
      assertThrows(IllegalArgumentException.class, () -> SchemaVersion.parse(bad), String.valueOf(bad));
    }
  }

  @Test
  void isAtLeast() {
    assertTrue(v("9").isAtLeast(v("9")));
    assertTrue(v("10").isAtLeast(v("9")));
    assertFalse(v("8").isAtLeast(v("9")));
    assertTrue(v("1.10").isAtLeast(v("1.9")));
    assertFalse(v("1.9").isAtLeast(v("1.10")));
  }

  @Test
  void aSchemaAtOrAboveTheBuildServesIt() {
    SchemaVersion build = v("9");
    assertEquals(Optional.empty(), build.shortfall("9"), "the build's own version");
    assertEquals(Optional.empty(), build.shortfall("10"), "a newer release migrated further");
    assertEquals(Optional.empty(), build.shortfall("9.1"));
    assertEquals(Optional.empty(), v("1.9").shortfall("1.10"));
  }

  @Test
  void aSchemaBelowTheBuildDoesNotAndTheReasonSaysWhy() {
    SchemaVersion build = v("10");
    assertEquals(Optional.of("schema at version 9, below version 10 that this build needs"), build.shortfall("9"));
    assertTrue(v("1.10").shortfall("1.9").isPresent());
    String none = build.shortfall(null).orElseThrow();
    assertTrue(none.contains("no migration is recorded") && none.contains("10"), none);
    String garbage = build.shortfall("x1").orElseThrow();
    assertTrue(garbage.contains("'x1'") && garbage.contains("10"), garbage);
  }
}
