package io.callbackd.webhook;

import io.netty.util.NetUtil;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;

/**
 * Server-side request forgery protection: decides whether callbackd may connect to an address.
 *
 * <p>Callback URLs come from clients, so without this check anyone could make the service POST to its own loopback
 * interface, the cloud metadata endpoint (169.254.169.254) or hosts on the internal network. The decision is made on
 * the resolved IP address, right before connecting, so DNS tricks (a public name resolving to 10.0.0.1, rebinding)
 * are caught too; {@link #blockReasonForLiteral(String)} is only an early, DNS-free rejection when the URL is
 * submitted.
 *
 * <p>Blocked by default: loopback, private (RFC 1918), shared address space (CGNAT), link-local, multicast,
 * unspecified, reserved/documentation ranges, 6to4 relay anycast, IPv6 unique local, site-local and Teredo. IPv6
 * addresses that embed an IPv4 address (IPv4-mapped, IPv4-compatible, IPv4-translated, NAT64 64:ff9b::/96, 6to4
 * 2002::/16) are judged by the embedded IPv4 address, because that is where the packets end up.
 *
 * <p>{@code allowPrivate} switches the guard off (for local development). Networks in {@code allowed_networks} are
 * allowed even when they fall in a blocked range, to reach deliberate internal receivers.
 *
 * <p>Instances are immutable and thread-safe. Nothing here ever performs a DNS lookup: addresses are only built from
 * bytes parsed from literals, by this class or by Netty's {@code NetUtil}.
 */
public final class DestinationGuard {

  /** Config key of the allow-list, named in error messages so operators know what to fix. */
  public static final String CONFIG_KEY = "allowed_networks";

  private static final String LOOPBACK = "loopback";
  private static final String INVALID_LITERAL = "invalid address literal";

  private static final List<BlockedRange> BLOCKED_IPV4 = List.of(
      blocked("0.0.0.0/8", "unspecified"),
      blocked("10.0.0.0/8", "private"),
      blocked("100.64.0.0/10", "shared address space"),
      blocked("127.0.0.0/8", LOOPBACK),
      blocked("169.254.0.0/16", "link-local"),
      blocked("172.16.0.0/12", "private"),
      blocked("192.0.0.0/24", "reserved"),
      blocked("192.0.2.0/24", "reserved"),
      // Deprecated 6to4 relays (RFC 7526): whoever answers there unwraps the packets towards any IPv4 host.
      blocked("192.88.99.0/24", "6to4 relay anycast"),
      blocked("192.168.0.0/16", "private"),
      blocked("198.18.0.0/15", "reserved"),
      blocked("198.51.100.0/24", "reserved"),
      blocked("203.0.113.0/24", "reserved"),
      blocked("224.0.0.0/4", "multicast"),
      blocked("240.0.0.0/4", "reserved"));

  private static final List<BlockedRange> BLOCKED_IPV6 = List.of(
      blocked("::/128", "unspecified"),
      blocked("::1/128", LOOPBACK),
      blocked("64:ff9b:1::/48", "reserved"), // local-use NAT64 (RFC 8215): may translate to internal IPv4 hosts
      blocked("100::/64", "reserved"),
      // Teredo tunnels carry the client's IPv4 address obfuscated; no receiver has a reason to live behind one.
      blocked("2001::/32", "Teredo tunnel"),
      blocked("2001:db8::/32", "reserved"),
      blocked("fc00::/7", "unique local"),
      blocked("fe80::/10", "link-local"),
      blocked("fec0::/10", "site-local"), // deprecated, but still routed internally where it is in use
      blocked("ff00::/8", "multicast"));

  private static final byte[] IPV4_LOOPBACK = {127, 0, 0, 1};
  private static final byte[] IPV6_LOOPBACK = parseIpv6("::1");

  private final boolean allowPrivate;
  private final List<Network> allowedNetworks;

  private DestinationGuard(boolean allowPrivate, List<Network> allowedNetworks) {
    this.allowPrivate = allowPrivate;
    this.allowedNetworks = List.copyOf(allowedNetworks);
  }

  /**
   * @param allowPrivate when true every destination is allowed (the guard is off)
   * @param commaSeparatedCidrs the {@code allowed_networks} setting, e.g. {@code "10.20.0.0/16, fd00::/8"}; a bare
   *     address means a single host; host bits beyond the prefix are ignored; null or blank means none
   * @throws IllegalArgumentException for a malformed entry, naming the config key, position and entry
   */
  public static DestinationGuard fromConfig(boolean allowPrivate, String commaSeparatedCidrs) {
    List<Network> networks = new ArrayList<>();
    if (commaSeparatedCidrs != null && !commaSeparatedCidrs.isBlank()) {
      String[] entries = commaSeparatedCidrs.split(",", -1);
      for (int i = 0; i < entries.length; i++) {
        String entry = entries[i].strip();
        try {
          networks.add(Network.parse(entry));
        } catch (IllegalArgumentException e) {
          throw new IllegalArgumentException(
              CONFIG_KEY + ": entry " + (i + 1) + " ('" + entry + "') is not a valid network: " + e.getMessage()
                  + " (expected CIDR such as 10.0.0.0/8 or fd00::/8, or a bare address)");
        }
      }
    }
    return new DestinationGuard(allowPrivate, networks);
  }

  /** Why connecting to {@code address} is refused, or empty when it is allowed. */
  public Optional<String> blockReason(InetAddress address) {
    Objects.requireNonNull(address, "address");
    return Optional.ofNullable(judge(address.getAddress()));
  }

  /** Convenience for {@code blockReason(address).isEmpty()}. */
  public boolean isAllowed(InetAddress address) {
    return blockReason(address).isEmpty();
  }

  /** A log/error line such as {@code blocked destination 10.1.2.3 (private)}. */
  public String describe(InetAddress address) {
    Optional<String> reason = blockReason(address);
    return reason.map(r -> "blocked destination " + address.getHostAddress() + " (" + r + ")")
        .orElseGet(() -> "allowed destination " + address.getHostAddress());
  }

  /**
   * Early check of the host part of a callback URL, without any DNS lookup.
   *
   * <p>IP literals (dotted IPv4, IPv6 with or without brackets and zone) and {@code localhost} / {@code *.localhost}
   * (which RFC 6761 reserves for loopback) are judged now. Numeric IPv4 spellings that resolvers still accept
   * ({@code 127.1}, {@code 0x7f.0.0.1}, {@code 2130706433}, octal parts) are decoded the way URL parsers and
   * {@code inet_aton} do, so they cannot sneak past as "names". A host that looks numeric but is no valid address
   * gets {@code "invalid address literal"}. Any other name yields empty: it is judged by {@link #blockReason} once
   * resolved.
   */
  public Optional<String> blockReasonForLiteral(String host) {
    Objects.requireNonNull(host, "host");
    if (allowPrivate) {
      return Optional.empty();
    }
    if (host.isEmpty()) {
      return Optional.of("invalid host");
    }
    if (host.startsWith("[") || host.indexOf(':') >= 0) {
      String literal = host;
      if (literal.startsWith("[")) {
        if (!literal.endsWith("]")) {
          return Optional.of(INVALID_LITERAL);
        }
        literal = literal.substring(1, literal.length() - 1);
      }
      int zone = literal.indexOf('%'); // fe80::1%eth0, or %25eth0 as written in URLs: the zone does not matter here
      if (zone >= 0) {
        literal = literal.substring(0, zone);
      }
      byte[] address = parseIpv6(literal);
      return Optional.ofNullable(address == null ? INVALID_LITERAL : judge(address));
    }

    String name = host.toLowerCase(Locale.ROOT);
    if (name.endsWith(".")) { // fully qualified form: "localhost." and "127.0.0.1." mean the same thing
      name = name.substring(0, name.length() - 1);
    }
    if (name.equals("localhost") || name.endsWith(".localhost")) {
      // Whatever it resolves to is loopback; allowed only when the operator allow-listed loopback.
      boolean allowListed = isAllowListed(IPV4_LOOPBACK) || isAllowListed(IPV6_LOOPBACK);
      return allowListed ? Optional.empty() : Optional.of(LOOPBACK);
    }
    if (endsInNumber(name)) {
      byte[] address = parseIpv4Lenient(name);
      return Optional.ofNullable(address == null ? INVALID_LITERAL : judge(address));
    }
    return Optional.empty();
  }

  /** The block reason for raw address bytes (4 or 16), or null when allowed. */
  private String judge(byte[] address) {
    if (allowPrivate) {
      return null;
    }
    byte[] embeddedIpv4 = address.length == 16 ? embeddedIpv4(address) : null;
    if (isAllowListed(address) || (embeddedIpv4 != null && isAllowListed(embeddedIpv4))) {
      return null;
    }
    if (address.length == 4) {
      return firstMatch(BLOCKED_IPV4, address);
    }
    String reason = firstMatch(BLOCKED_IPV6, address);
    if (reason == null && embeddedIpv4 != null) {
      reason = firstMatch(BLOCKED_IPV4, embeddedIpv4);
    }
    return reason;
  }

  private boolean isAllowListed(byte[] address) {
    for (Network network : allowedNetworks) {
      if (network.contains(address)) {
        return true;
      }
    }
    return false;
  }

  private static String firstMatch(List<BlockedRange> ranges, byte[] address) {
    for (BlockedRange range : ranges) {
      if (range.network.contains(address)) {
        return range.reason;
      }
    }
    return null;
  }

  /**
   * The IPv4 address inside an IPv6 address of a form that carries IPv4 packets to it, or null.
   * {@code ::} and {@code ::1} are left out: they are IPv6 addresses in their own right, not IPv4-compatible ones.
   */
  static byte[] embeddedIpv4(byte[] v6) {
    if (allZero(v6, 0, 10) && (v6[10] & 0xff) == 0xff && (v6[11] & 0xff) == 0xff) {
      return slice(v6, 12); // IPv4-mapped ::ffff:a.b.c.d
    }
    if (allZero(v6, 0, 8) && (v6[8] & 0xff) == 0xff && (v6[9] & 0xff) == 0xff && v6[10] == 0 && v6[11] == 0) {
      return slice(v6, 12); // IPv4-translated ::ffff:0:a.b.c.d (RFC 2765)
    }
    boolean unspecifiedOrLoopback = allZero(v6, 12, 15) && (v6[15] == 0 || v6[15] == 1);
    if (allZero(v6, 0, 12) && !unspecifiedOrLoopback) {
      return slice(v6, 12); // IPv4-compatible ::a.b.c.d (deprecated, but still parsed and routed by some stacks)
    }
    if (v6[0] == 0 && v6[1] == 0x64 && (v6[2] & 0xff) == 0xff && (v6[3] & 0xff) == 0x9b && allZero(v6, 4, 12)) {
      return slice(v6, 12); // NAT64 well-known prefix 64:ff9b::/96 (RFC 6052)
    }
    if (v6[0] == 0x20 && v6[1] == 0x02) {
      return slice(v6, 2); // 6to4 2002:aabb:ccdd::/48 (RFC 3056)
    }
    return null;
  }

  private static boolean allZero(byte[] bytes, int from, int to) {
    for (int i = from; i < to; i++) {
      if (bytes[i] != 0) {
        return false;
      }
    }
    return true;
  }

  private static byte[] slice(byte[] bytes, int from) {
    byte[] ipv4 = new byte[4];
    System.arraycopy(bytes, from, ipv4, 0, 4);
    return ipv4;
  }

  @Override
  public String toString() {
    return "DestinationGuard[allowPrivate=" + allowPrivate + ", allowedNetworks=" + allowedNetworks + "]";
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Parsing. Never InetAddress.getByName, which falls back to a DNS lookup for anything that is not a literal: text
  // only ever becomes bytes here. Dotted-quad IPv4 and IPv6 are read by Netty's NetUtil (pure parsing, no lookup);
  // what is still done by hand is where NetUtil reads a form differently or not at all, each place saying why.

  /** The WHATWG URL rule: a host whose last label is a number is an IPv4 address (or invalid), never a DNS name. */
  private static boolean endsInNumber(String host) {
    String last = host.substring(host.lastIndexOf('.') + 1);
    if (last.isEmpty()) {
      return false;
    }
    if (last.chars().allMatch(c -> c >= '0' && c <= '9')) {
      return true;
    }
    return (last.startsWith("0x")) && last.substring(2).chars().allMatch(c -> Character.digit(c, 16) >= 0);
  }

  /**
   * IPv4 in all the forms {@code inet_aton} accepts: 1 to 4 parts, each decimal, octal (leading 0) or hex (0x); the
   * last part fills the remaining bytes. Returns null when invalid.
   *
   * <p>Hand-written on purpose: NetUtil knows only the dotted quad and reads a leading zero as decimal, so it would
   * take {@code 012.0.0.1} for the public 12.0.0.1 where URL parsers and inet_aton mean the private 10.0.0.1, and it
   * refuses {@code 127.1}, {@code 0x7f.0.0.1} and {@code 2130706433}, which those still reach loopback with.
   */
  static byte[] parseIpv4Lenient(String text) {
    String[] parts = text.split("\\.", -1);
    if (parts.length > 4) {
      return null;
    }
    long[] numbers = new long[parts.length];
    for (int i = 0; i < parts.length; i++) {
      numbers[i] = parseIpv4Number(parts[i]);
      if (numbers[i] < 0 || (i < parts.length - 1 && numbers[i] > 255)) {
        return null;
      }
    }
    long last = numbers[parts.length - 1];
    int lastBytes = 5 - parts.length;
    if (last >= 1L << (8 * lastBytes)) {
      return null;
    }
    long value = last;
    for (int i = 0; i < parts.length - 1; i++) {
      value |= numbers[i] << (8 * (3 - i));
    }
    return new byte[] {(byte) (value >>> 24), (byte) (value >>> 16), (byte) (value >>> 8), (byte) value};
  }

  /** One inet_aton part, or -1 when invalid or larger than 32 bits. */
  private static long parseIpv4Number(String part) {
    int radix = 10;
    String digits = part;
    if (part.startsWith("0x") || part.startsWith("0X")) {
      radix = 16;
      digits = part.substring(2);
      if (digits.isEmpty()) {
        return 0; // "0x" alone is zero for inet_aton and URL parsers alike
      }
    } else if (part.length() > 1 && part.startsWith("0")) {
      radix = 8;
      digits = part.substring(1);
    }
    if (digits.isEmpty()) {
      return -1;
    }
    long value = 0;
    for (int i = 0; i < digits.length(); i++) {
      int digit = Character.digit(digits.charAt(i), radix);
      if (digit < 0 || digits.charAt(i) > 0x7f) {
        return -1;
      }
      value = value * radix + digit;
      if (value > 0xffffffffL) {
        return -1;
      }
    }
    return value;
  }

  /**
   * Dotted quad only, decimal, no leading zeros. Returns null when invalid.
   *
   * <p>NetUtil accepts leading zeros and reads them as decimal ({@code 010.0.0.0} is 10.0.0.0 to it, 8.0.0.0 to
   * {@code inet_aton}); such an entry is ambiguous, so it stays refused rather than silently meaning one of the two.
   */
  static byte[] parseIpv4Strict(String text) {
    if (!NetUtil.isValidIpV4Address(text) || hasLeadingZero(text)) {
      return null;
    }
    return NetUtil.createByteArrayFromIpAddressString(text);
  }

  /** Whether a part of a (valid) dotted quad has more than one digit and starts with 0. */
  private static boolean hasLeadingZero(String dottedQuad) {
    for (int i = 0; i < dottedQuad.length() - 1; i++) {
      boolean partStart = i == 0 || dottedQuad.charAt(i - 1) == '.';
      if (partStart && dottedQuad.charAt(i) == '0' && dottedQuad.charAt(i + 1) != '.') {
        return true;
      }
    }
    return false;
  }

  /**
   * RFC 4291 text form without brackets or zone: up to 8 groups of 1-4 hex digits, at most one "::", optionally
   * ending in a dotted IPv4 address. Returns the 16 bytes, or null when invalid.
   *
   * <p>Two things are kept from NetUtil on purpose:
   * <ul>
   *   <li>Brackets and a zone ({@code %eth0}) are refused: NetUtil would strip them, but an allow-list entry has no
   *       use for either, and URL hosts have them removed by {@link #blockReasonForLiteral} before they get here.
   *   <li>A dotted IPv4 tail is turned into two hex groups before NetUtil sees the text. NetUtil accepts such a tail
   *       only in the IPv4-mapped and IPv4-compatible forms, returns both as IPv4-mapped ({@code ::10.0.0.0} comes
   *       back as {@code ::ffff:10.0.0.0}, which would change what an allow-list entry covers) and reads a leading
   *       zero in it as decimal. Written as hex, the tail means what it says: IPv4-compatible stays IPv4-compatible,
   *       and the IPv4-translated ({@code ::ffff:0:a.b.c.d}), NAT64 ({@code 64:ff9b::a.b.c.d}) and full
   *       ({@code 1:2:3:4:5:6:a.b.c.d}) forms keep being judged rather than refused. The tail itself gets the strict
   *       dotted-quad rule: no leading zeros, and only at the very end.
   * </ul>
   */
  static byte[] parseIpv6(String text) {
    if (text.indexOf('[') >= 0 || text.indexOf(']') >= 0 || text.indexOf('%') >= 0) {
      return null;
    }
    String hex = text;
    int dot = text.indexOf('.');
    if (dot >= 0) {
      int lastColon = text.lastIndexOf(':');
      if (lastColon < 0 || dot < lastColon) {
        return null; // an IPv4 tail can only come last
      }
      byte[] ipv4 = parseIpv4Strict(text.substring(lastColon + 1));
      if (ipv4 == null) {
        return null;
      }
      hex = text.substring(0, lastColon + 1)
          + Integer.toHexString(((ipv4[0] & 0xff) << 8) | (ipv4[1] & 0xff)) + ":"
          + Integer.toHexString(((ipv4[2] & 0xff) << 8) | (ipv4[3] & 0xff));
    }
    if (!NetUtil.isValidIpV6Address(hex)) {
      return null;
    }
    byte[] address = NetUtil.createByteArrayFromIpAddressString(hex);
    return address != null && address.length == 16 ? address : null;
  }

  private static BlockedRange blocked(String cidr, String reason) {
    return new BlockedRange(Network.parse(cidr), reason);
  }

  private static final class BlockedRange {
    final Network network;
    final String reason;

    BlockedRange(Network network, String reason) {
      this.network = network;
      this.reason = reason;
    }
  }

  /** An IPv4 or IPv6 network; an IPv4 network never contains an IPv6 address or vice versa. */
  private static final class Network {
    private final byte[] base;
    private final int prefixLength;

    private Network(byte[] base, int prefixLength) {
      this.base = base;
      this.prefixLength = prefixLength;
      for (int bit = prefixLength; bit < base.length * 8; bit++) { // clear host bits so contains() can compare
        base[bit / 8] &= (byte) ~(0x80 >>> (bit % 8));
      }
    }

    /** CIDR or bare address; host bits are cleared. The exception message says what is wrong with it. */
    static Network parse(String cidr) {
      if (cidr.isEmpty()) {
        throw new IllegalArgumentException("it is empty");
      }
      int slash = cidr.indexOf('/');
      String addressText = slash < 0 ? cidr : cidr.substring(0, slash);
      byte[] address = addressText.indexOf(':') >= 0 ? parseIpv6(addressText) : parseIpv4Strict(addressText);
      if (address == null) {
        throw new IllegalArgumentException("not an IPv4 or IPv6 address");
      }
      int maxPrefix = address.length * 8;
      int prefix = maxPrefix;
      if (slash >= 0) {
        String prefixText = cidr.substring(slash + 1);
        if (prefixText.isEmpty() || prefixText.length() > 3 || !prefixText.chars().allMatch(c -> c >= '0' && c <= '9')) {
          throw new IllegalArgumentException("prefix length must be a number between 0 and " + maxPrefix);
        }
        prefix = Integer.parseInt(prefixText);
        if (prefix > maxPrefix) {
          throw new IllegalArgumentException("prefix length must be a number between 0 and " + maxPrefix);
        }
      }
      return new Network(address, prefix);
    }

    boolean contains(byte[] address) {
      if (address.length != base.length) {
        return false;
      }
      int fullBytes = prefixLength / 8;
      for (int i = 0; i < fullBytes; i++) {
        if (address[i] != base[i]) {
          return false;
        }
      }
      int remainingBits = prefixLength % 8;
      if (remainingBits == 0) {
        return true;
      }
      int mask = (0xff << (8 - remainingBits)) & 0xff;
      return (address[fullBytes] & mask) == (base[fullBytes] & 0xff);
    }

    @Override
    public String toString() {
      try {
        // getByAddress never resolves; for 16 bytes of an IPv4-mapped network it would return an Inet4Address,
        // so IPv6 is formatted by hand to keep "::ffff:0:0/96" an IPv6 network in logs.
        String text = base.length == 4 ? InetAddress.getByAddress(base).getHostAddress() : formatIpv6(base);
        return text + "/" + prefixLength;
      } catch (UnknownHostException e) {
        throw new IllegalStateException(e); // only thrown for a wrong array length, which parse() rules out
      }
    }

    /** RFC 5952 style: lower-case hex, the longest run of two or more zero groups written as "::". */
    private static String formatIpv6(byte[] address) {
      int[] groups = new int[8];
      for (int i = 0; i < 8; i++) {
        groups[i] = ((address[2 * i] & 0xff) << 8) | (address[2 * i + 1] & 0xff);
      }
      int bestStart = -1;
      int bestLength = 1;
      for (int i = 0; i < 8; ) {
        int j = i;
        while (j < 8 && groups[j] == 0) {
          j++;
        }
        if (j - i > bestLength) {
          bestStart = i;
          bestLength = j - i;
        }
        i = Math.max(j, i + 1);
      }
      StringBuilder text = new StringBuilder();
      for (int i = 0; i < 8; i++) {
        if (i == bestStart) {
          text.append("::");
          i += bestLength - 1;
          continue;
        }
        if (text.length() > 0 && text.charAt(text.length() - 1) != ':') {
          text.append(':');
        }
        text.append(Integer.toHexString(groups[i]));
      }
      return text.toString();
    }
  }
}
