package io.callbackd.delivery;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.net.ConnectException;
import java.net.NoRouteToHostException;
import java.net.UnknownHostException;
import java.nio.channels.ClosedChannelException;
import java.time.Duration;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeoutException;
import javax.net.ssl.SSLException;
import org.junit.jupiter.api.Test;

class AttemptErrorsTest {

  private static final Duration TEN_SECONDS = Duration.ofSeconds(10);

  /** Stands for the timeout exceptions of Netty and Vert.x, recognised by name rather than by type. */
  static final class ReadTimeoutException extends RuntimeException {
    ReadTimeoutException() {
      super("read timed out");
    }
  }

  @Test
  void timeoutExceptionNamesTheConfiguredTimeout() {
    assertEquals("timeout after 10s", AttemptErrors.describe(new TimeoutException(), TEN_SECONDS));
    assertEquals("timeout after 1500ms", AttemptErrors.describe(new TimeoutException("x"), Duration.ofMillis(1500)));
    assertEquals("timeout after 2m", AttemptErrors.describe(new TimeoutException(), Duration.ofMinutes(2)));
  }

  @Test
  void timeoutIsRecognisedByClassNameToo() {
    assertEquals("timeout after 10s", AttemptErrors.describe(new ReadTimeoutException(), TEN_SECONDS));
    assertEquals(AttemptResult.Kind.TIMEOUT, AttemptErrors.kind(new ReadTimeoutException()));
  }

  @Test
  void timeoutKind() {
    assertEquals(AttemptResult.Kind.TIMEOUT, AttemptErrors.kind(new TimeoutException()));
  }

  @Test
  void connectionRefused() {
    assertEquals("connection refused", AttemptErrors.describe(new ConnectException("Connection refused"), TEN_SECONDS));
    assertEquals("connection refused",
      AttemptErrors.describe(new ConnectException("Connection refused: localhost/127.0.0.1:9"), TEN_SECONDS));
    assertEquals("connection refused", AttemptErrors.describe(new ConnectException(), TEN_SECONDS));
    assertEquals(AttemptResult.Kind.CONNECT_ERROR, AttemptErrors.kind(new ConnectException("Connection refused")));
  }

  @Test
  void refusedMessageOnAnotherTypeIsStillConnectionRefused() {
    assertEquals("connection refused", AttemptErrors.describe(new IOException("Connection refused"), TEN_SECONDS));
  }

  @Test
  void otherConnectFailuresKeepTheFirstLineOfTheirMessage() {
    assertEquals("connect failed: Network is unreachable",
      AttemptErrors.describe(new ConnectException("Network is unreachable\nat somewhere"), TEN_SECONDS));
  }

  @Test
  void nestedCausesAreDescribedByTheirRoot() {
    Throwable wrapped = new CompletionException(new RuntimeException("wrapper",
      new ConnectException("Connection refused")));
    assertEquals("connection refused", AttemptErrors.describe(wrapped, TEN_SECONDS));
    assertEquals(AttemptResult.Kind.CONNECT_ERROR, AttemptErrors.kind(wrapped));

    Throwable timedOut = new ExecutionException(new RuntimeException(new TimeoutException("late")));
    assertEquals("timeout after 10s", AttemptErrors.describe(timedOut, TEN_SECONDS));
    assertEquals(AttemptResult.Kind.TIMEOUT, AttemptErrors.kind(timedOut));
  }

  @Test
  void unknownHostNamesTheHostWithoutTheResolverDetail() {
    assertEquals("unknown host nohost.invalid",
      AttemptErrors.describe(new UnknownHostException("nohost.invalid: Name or service not known"), TEN_SECONDS));
    assertEquals("unknown host nohost.invalid",
      AttemptErrors.describe(new UnknownHostException("nohost.invalid"), TEN_SECONDS));
  }

  @Test
  void noRouteToHost() {
    assertEquals("no route to host", AttemptErrors.describe(new NoRouteToHostException("No route to host"), TEN_SECONDS));
  }

  @Test
  void connectionResetAndClosed() {
    assertEquals("connection reset", AttemptErrors.describe(new IOException("Connection reset by peer"), TEN_SECONDS));
    assertEquals("connection closed before the response",
      AttemptErrors.describe(new ClosedChannelException(), TEN_SECONDS));
  }

  @Test
  void tlsErrorsKeepTheirFirstLine() {
    assertEquals("TLS error: handshake failed",
      AttemptErrors.describe(new SSLException("handshake failed\nmore detail"), TEN_SECONDS));
  }

  @Test
  void anythingElseIsTheSimpleClassNameAndFirstLine() {
    assertEquals("IllegalStateException: boom", AttemptErrors.describe(new IllegalStateException("boom\nline 2"), TEN_SECONDS));
    assertEquals("IllegalStateException", AttemptErrors.describe(new IllegalStateException(), TEN_SECONDS));
  }

  @Test
  void longMessagesAreCutTo200Characters() {
    String described = AttemptErrors.describe(new IllegalStateException("x".repeat(500)), TEN_SECONDS);
    assertEquals("IllegalStateException: " + "x".repeat(200), described);
  }
}
