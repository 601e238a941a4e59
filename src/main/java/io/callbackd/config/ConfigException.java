package io.callbackd.config;

/** A configuration value that callbackd cannot use; the message names the key and what is expected. */
public class ConfigException extends RuntimeException {
  public ConfigException(String message) {
    super(message);
  }
}
