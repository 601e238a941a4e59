package io.callbackd.database;

/** The platform's runs table, schema-qualified so that no search_path can point callbackd at another one. */
public final class RunsTable {
  public static final String NAME = "public.runs";

  private RunsTable() {
  }
}
