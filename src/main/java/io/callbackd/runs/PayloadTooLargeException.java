package io.callbackd.runs;

/** The run's callback payload would be larger than {@code max_body}: refused when the run is written, not at delivery. */
public class PayloadTooLargeException extends RuntimeException {
  public PayloadTooLargeException(String message) {
    super(message);
  }
}
