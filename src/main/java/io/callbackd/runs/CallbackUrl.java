package io.callbackd.runs;

import java.net.URI;
import java.net.URISyntaxException;
import java.util.Locale;

/** The rules a {@code callback_url} must pass before a run is accepted. */
public final class CallbackUrl {

  public static final int MAX_LENGTH = 2048;

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
    return uri;
  }
}
