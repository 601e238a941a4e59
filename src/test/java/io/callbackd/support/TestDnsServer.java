package io.callbackd.support;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketException;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A small authoritative DNS server on a random UDP port of 127.0.0.1, answering A queries from a script: each name
 * has a list of answers, the first lookup gets the first, the next the second, and so on, the last one repeating (a
 * name "rebinding" between lookups). Other query types get an empty answer, unknown names NXDOMAIN. TTLs are 0.
 */
public final class TestDnsServer implements AutoCloseable {

  private final DatagramSocket socket;
  private final Map<String, List<String>> answers = new ConcurrentHashMap<>();
  private final Map<String, AtomicInteger> aQueries = new ConcurrentHashMap<>();
  private final Map<String, java.time.Duration> delays = new ConcurrentHashMap<>();
  private final AtomicInteger delayedSent = new AtomicInteger();
  private final java.util.concurrent.ScheduledExecutorService later =
    java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "test-dns-server-later");
      t.setDaemon(true);
      return t;
    });
  private final Thread thread;

  /** The name of the query being answered (the serving thread's only). */
  private String lastName;

  public TestDnsServer() {
    try {
      socket = new DatagramSocket(new InetSocketAddress(InetAddress.getByAddress(new byte[] {127, 0, 0, 1}), 0));
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
    thread = new Thread(this::serve, "test-dns-server");
    thread.setDaemon(true);
    thread.start();
  }

  /** {@code name}'s answers to successive A lookups (IPv4 literals); the last repeats. */
  public TestDnsServer answer(String name, String... addresses) {
    answers.put(name.toLowerCase(Locale.ROOT), List.of(addresses));
    return this;
  }

  /** {@code name}'s answers leave only after {@code delay}: a slow resolver. */
  public TestDnsServer delay(String name, java.time.Duration delay) {
    delays.put(name.toLowerCase(Locale.ROOT), delay);
    return this;
  }

  /** How many delayed answers have gone out. */
  public int delayedAnswersSent() {
    return delayedSent.get();
  }

  /** How many A queries {@code name} got. */
  public int aQueries(String name) {
    AtomicInteger n = aQueries.get(name.toLowerCase(Locale.ROOT));
    return n == null ? 0 : n.get();
  }

  /** The {@code dns_servers} setting that points at this server. */
  public String address() {
    return "127.0.0.1:" + socket.getLocalPort();
  }

  private void serve() {
    byte[] buffer = new byte[1500];
    while (!socket.isClosed()) {
      DatagramPacket packet = new DatagramPacket(buffer, buffer.length);
      try {
        socket.receive(packet);
        byte[] reply = reply(packet.getData(), packet.getLength());
        if (reply != null) {
          DatagramPacket answer = new DatagramPacket(reply, reply.length, packet.getSocketAddress());
          java.time.Duration delay = delays.get(lastName);
          if (delay == null) {
            socket.send(answer);
          } else {
            later.schedule(() -> {
              try {
                socket.send(answer);
                delayedSent.incrementAndGet();
              } catch (IOException e) {
                // closed meanwhile
              }
            }, delay.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
          }
        }
      } catch (SocketException closed) {
        return;
      } catch (IOException | RuntimeException e) {
        // A malformed query is dropped, as a real server would.
      }
    }
  }

  private byte[] reply(byte[] q, int length) {
    if (length < 12 || (q[5] & 0xff) != 1 || q[4] != 0) {
      return null; // exactly one question
    }
    int pos = 12;
    StringBuilder name = new StringBuilder();
    while (q[pos] != 0) {
      int label = q[pos] & 0xff;
      if (name.length() > 0) {
        name.append('.');
      }
      name.append(new String(q, pos + 1, label, java.nio.charset.StandardCharsets.US_ASCII));
      pos += 1 + label;
    }
    pos++;
    int type = ((q[pos] & 0xff) << 8) | (q[pos + 1] & 0xff);
    int questionEnd = pos + 4;
    String key = name.toString().toLowerCase(Locale.ROOT);
    lastName = key;
    List<String> script = answers.get(key);
    List<byte[]> records = new java.util.ArrayList<>();
    if (script != null && type == 1) {
      int n = aQueries.computeIfAbsent(key, k -> new AtomicInteger()).getAndIncrement();
      String address = script.get(Math.min(n, script.size() - 1));
      records.add(ipv4(address));
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write(q[0]);
    out.write(q[1]);
    out.write(0x84 | (q[2] & 0x01)); // response, authoritative, recursion desired as asked
    out.write(0x80 | (script == null ? 0x03 : 0x00)); // recursion available; NXDOMAIN for unknown names
    out.writeBytes(new byte[] {0, 1, 0, (byte) records.size(), 0, 0, 0, 0});
    out.write(q, 12, questionEnd - 12);
    for (byte[] address : records) {
      out.writeBytes(new byte[] {(byte) 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4});
      out.writeBytes(address);
    }
    return out.toByteArray();
  }

  private static byte[] ipv4(String text) {
    String[] parts = text.split("\\.");
    byte[] b = new byte[4];
    for (int i = 0; i < 4; i++) {
      b[i] = (byte) Integer.parseInt(parts[i]);
    }
    return b;
  }

  @Override
  public void close() {
    socket.close();
    later.shutdownNow();
  }
}
