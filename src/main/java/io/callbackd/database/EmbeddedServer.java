package io.callbackd.database;

/** A running embedded PostgreSQL: where it listens, and how to stop it. */
interface EmbeddedServer extends AutoCloseable {

  int port();

  @Override
  void close();
}
