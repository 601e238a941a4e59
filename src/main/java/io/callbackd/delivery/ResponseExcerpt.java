package io.callbackd.delivery;

import io.vertx.core.buffer.Buffer;

import java.nio.charset.StandardCharsets;

/**
 * Keeps the first bytes of a response body for the attempt log and drops the rest as it streams in, so a receiver
 * answering with megabytes costs no memory.
 */
final class ResponseExcerpt {

  private final int limit;
  private final Buffer kept = Buffer.buffer();

  ResponseExcerpt(int limit) {
    this.limit = limit;
  }

  void append(Buffer data) {
    int room = limit - kept.length();
    if (room > 0) {
      kept.appendBuffer(data.length() <= room ? data : data.slice(0, room));
    }
  }

  /** What was kept, or null for an empty body; replacement characters stand in for invalid bytes or a cut character. */
  String text() {
    return kept.length() == 0 ? null : new String(kept.getBytes(), StandardCharsets.UTF_8).replace('\u0000', '\uFFFD');
  }
}
