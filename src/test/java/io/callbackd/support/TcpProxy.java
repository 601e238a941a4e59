package io.callbackd.support;

import io.vertx.core.Vertx;
import io.vertx.core.net.NetClient;
import io.vertx.core.net.NetServer;
import io.vertx.core.net.NetSocket;

import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A loopback TCP proxy in front of PostgreSQL that a test can cut and restore, to make the database unreachable for
 * callbackd without stopping the server that other test classes share.
 */
public final class TcpProxy implements AutoCloseable {

  private final Vertx vertx;
  private final int targetPort;
  private final NetClient client;
  private final Set<NetSocket> sockets = ConcurrentHashMap.newKeySet();
  /** Each connection's two sockets, by the port PostgreSQL sees it come from (its client_port). */
  private final Map<Integer, NetSocket[]> byUpstreamPort = new ConcurrentHashMap<>();
  private NetServer server;
  private int port;

  public TcpProxy(Vertx vertx, int targetPort) {
    this.vertx = vertx;
    this.targetPort = targetPort;
    this.client = vertx.createNetClient();
    listen(0);
  }

  private void listen(int onPort) {
    server = vertx.createNetServer().connectHandler(front -> {
      front.pause();
      sockets.add(front);
      client.connect(targetPort, "127.0.0.1").onComplete(ar -> {
        if (ar.failed()) {
          front.close();
          return;
        }
        NetSocket back = ar.result();
        sockets.add(back);
        byUpstreamPort.put(back.localAddress().port(), new NetSocket[] {front, back});
        front.handler(back::write);
        back.handler(front::write);
        front.closeHandler(v -> back.close());
        back.closeHandler(v -> front.close());
        front.resume();
      });
    });
    port = Await.result(server.listen(onPort, "127.0.0.1"), Duration.ofSeconds(10)).actualPort();
  }

  public int port() {
    return port;
  }

  /**
   * Stops carrying bytes either way on the connection PostgreSQL sees coming from {@code upstreamPort} (its
   * client_port) without closing either side: a peer gone silent, as behind a dropped NAT entry or a frozen host.
   * Nothing more is read from either side, so not even a close from one reaches the other.
   */
  public void silence(int upstreamPort) {
    NetSocket[] pair = byUpstreamPort.get(upstreamPort);
    if (pair == null) {
      throw new IllegalArgumentException("no connection comes from port " + upstreamPort);
    }
    pair[0].pause();
    pair[1].pause();
  }

  /** Closes every connection and refuses new ones: the database is unreachable. */
  public void cut() {
    Await.result(server.close(), Duration.ofSeconds(10));
    for (NetSocket s : sockets) {
      s.close();
    }
    sockets.clear();
    byUpstreamPort.clear();
  }

  /** Accepts connections again, on the same port. */
  public void restore() {
    listen(port);
  }

  @Override
  public void close() {
    cut();
    client.close();
  }
}
