package io.callbackd.runs;

import io.callbackd.webhook.CallbackTarget;

import java.net.URI;
import java.net.URISyntaxException;
import java.util.Locale;

/** The rules a {@code callback_url} must pass before a run is accepted. */
public final class CallbackUrl {

  public static final int MAX_LENGTH = CallbackTarget.MAX_URL_LENGTH;

  private CallbackUrl() {
  }

  /** Returns the URI when the text is an absolute http(s) URL without user-info, else throws naming {@code field}. */
  public static URI parse(String field, String text) {
    if (text.length() > MAX_LENGTH) {
      throw new InvalidInputException(field, field + " is longer than " + MAX_LENGTH + " characters");
    }
    URI uri;
    try {
      uri = new URI(text);
    } catch (URISyntaxException e) {
      throw new InvalidInputException(field, field + " is not a valid URL: " + e.getReason());
    }
    String scheme = uri.getScheme() == null ? null : uri.getScheme().toLowerCase(Locale.ROOT);
    if (!"http".equals(scheme) && !"https".equals(scheme)) {
      throw new InvalidInputException(field, field + " must be an absolute http or https URL");
    }
    if (uri.getRawUserInfo() != null) {
      throw new InvalidInputException(field, field + " must not carry user-info (user:password@)");
    }
    if (uri.getHost() == null || uri.getHost().isEmpty()) {
      throw new InvalidInputException(field, field + " must name a host");
    }
    // The rules a URL written straight into the runs table is held to (a host longer than a DNS name, a port out
    // of range): the API refuses what the dispatcher would fail.
    String problem = CallbackTarget.problem(text);
    if (problem != null) {
      throw new InvalidInputException(field, field + " is invalid: " + problem.substring(problem.indexOf(": ") + 2));
    }
    return uri;
  }
}
