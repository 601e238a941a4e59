package io.callbackd.delivery;

import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Promise;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.streams.WriteStream;
import io.vertx.ext.web.codec.BodyCodec;
import io.vertx.ext.web.codec.spi.BodyStream;

import java.nio.charset.StandardCharsets;

/**
 * Keeps the first bytes of a response body for the attempt log and drops the rest as it streams in, so a receiver
 * answering with megabytes costs no memory.
 */
public final class ResponseExcerptCodec implements BodyCodec<String> {

  private final int limit;

  public ResponseExcerptCodec(int limit) {
    this.limit = limit;
  }

  @Override
  public BodyStream<String> stream() {
    return new Excerpt(limit);
  }

  private static final class Excerpt implements BodyStream<String> {
    private final int limit;
    private final Buffer kept = Buffer.buffer();
    private final Promise<String> result = Promise.promise();

    Excerpt(int limit) {
      this.limit = limit;
    }

    @Override
    public Future<String> result() {
      return result.future();
    }

    @Override
    public void handle(Throwable cause) {
      result.tryFail(cause);
    }

    @Override
    public WriteStream<Buffer> exceptionHandler(Handler<Throwable> handler) {
      return this;
    }

    @Override
    public Future<Void> write(Buffer data) {
      int room = limit - kept.length();
      if (room > 0) {
        kept.appendBuffer(data.length() <= room ? data : data.slice(0, room));
      }
      return Future.succeededFuture();
    }

    @Override
    public Future<Void> end() {
      // Replacement characters stand in for invalid bytes or a character cut at the limit.
      result.tryComplete(kept.length() == 0 ? null : new String(kept.getBytes(), StandardCharsets.UTF_8)
        .replace('\u0000', '\uFFFD'));
      return Future.succeededFuture();
    }

    @Override
    public WriteStream<Buffer> setWriteQueueMaxSize(int maxSize) {
      return this;
    }

    @Override
    public boolean writeQueueFull() {
      return false;
    }

    @Override
    public WriteStream<Buffer> drainHandler(Handler<Void> handler) {
      return this;
    }
  }
}
