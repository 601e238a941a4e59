package io.callbackd.database;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A migration version as Flyway writes it ({@code 9}, {@code 1.10}, {@code 2_1}): numeric parts compared one by one,
 * so 10 is above 9 and 1.10 above 1.9; missing trailing parts count as 0 (1 equals 1.0).
 *
 * <p>A schema serves a build when it is at or above the build's own version (the highest migration packaged in it):
 * during a rolling upgrade a newer replica may have migrated the schema further, and a rollback runs the previous
 * build against the newer schema. Migrations are written so that both keep working (see the README).
 */
public final class SchemaVersion implements Comparable<SchemaVersion> {

  private final String text;
  private final List<BigInteger> parts;

  private SchemaVersion(String text, List<BigInteger> parts) {
    this.text = text;
    this.parts = parts;
  }

  /** Parses a version; dots and underscores separate its parts, each a non-negative whole number. */
  public static SchemaVersion parse(String text) {
    if (text == null || text.isBlank()) {
      throw new IllegalArgumentException("a schema version is required");
    }
    String trimmed = text.trim();
    List<BigInteger> parts = new ArrayList<>();
    for (String part : trimmed.split("[._]", -1)) {
      if (part.isEmpty() || !part.chars().allMatch(c -> c >= '0' && c <= '9')) {
        throw new IllegalArgumentException("not a schema version: '" + text + "'");
      }
      parts.add(new BigInteger(part));
    }
    // Trailing zero parts change nothing: 1.0 is 1.
    int size = parts.size();
    while (size > 1 && parts.get(size - 1).signum() == 0) {
      size--;
    }
    return new SchemaVersion(trimmed, List.copyOf(parts.subList(0, size)));
  }

  @Override
  public int compareTo(SchemaVersion other) {
    int n = Math.max(parts.size(), other.parts.size());
    for (int i = 0; i < n; i++) {
      BigInteger mine = i < parts.size() ? parts.get(i) : BigInteger.ZERO;
      BigInteger theirs = i < other.parts.size() ? other.parts.get(i) : BigInteger.ZERO;
      int c = mine.compareTo(theirs);
      if (c != 0) {
        return c;
      }
    }
    return 0;
  }

  public boolean isAtLeast(SchemaVersion other) {
    return compareTo(other) >= 0;
  }

  /**
   * Why a database whose latest applied migration is {@code applied} (null: none recorded) cannot serve a build whose
   * own version is this one; empty when it can, that is when {@code applied} is at or above this version.
   */
  public Optional<String> shortfall(String applied) {
    if (applied == null) {
      return Optional.of("no migration is recorded in the schema history; this build needs schema version " + text
        + " or above");
    }
    SchemaVersion version;
    try {
      version = parse(applied);
    } catch (IllegalArgumentException e) {
      return Optional.of("the schema history holds version '" + applied + "', which is not a version number; this "
        + "build needs schema version " + text + " or above");
    }
    if (version.isAtLeast(this)) {
      return Optional.empty();
    }
    return Optional.of("schema at version " + applied + ", below version " + text + " that this build needs");
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof SchemaVersion other && compareTo(other) == 0;
  }

  @Override
  public int hashCode() {
    return parts.hashCode();
  }

  /** The version as written. */
  @Override
  public String toString() {
    return text;
  }
}
