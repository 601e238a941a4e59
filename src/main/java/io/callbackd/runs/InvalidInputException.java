package io.callbackd.runs;

/** Input that callbackd refuses, naming the field at fault so that the caller can fix it. */
public class InvalidInputException extends RuntimeException {

  private final String field;

  public InvalidInputException(String field, String message) {
    super(message);
    this.field = field;
  }

  public String field() {
    return field;
  }
}
