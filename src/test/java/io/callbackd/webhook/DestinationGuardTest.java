package io.callbackd.webhook;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.NullSource;
import org.junit.jupiter.params.provider.ValueSource;

class DestinationGuardTest {

  private final DestinationGuard defaults = DestinationGuard.fromConfig(false, "");

  /**
   * InetAddress.getByName does not touch DNS for IP literals, which is all these tests pass it. It also folds
   * ::ffff:a.b.c.d into an Inet4Address, so {@link #mappedInet6} builds the IPv6 object form explicitly.
   */
  private static InetAddress ip(String literal) {
    try {
      return InetAddress.getByName(literal);
    } catch (UnknownHostException e) {
      throw new AssertionError(e);
    }
  }

  /** ::ffff:a.b.c.d kept as an Inet6Address, as some resolvers and sockets hand it over. */
  private static Inet6Address mappedInet6(String ipv4) throws UnknownHostException {
    byte[] bytes = new byte[16];
    bytes[10] = (byte) 0xff;
    bytes[11] = (byte) 0xff;
    System.arraycopy(ip(ipv4).getAddress(), 0, bytes, 12, 4);
    return Inet6Address.getByAddress(null, bytes, -1);
  }

  private static Optional<String> reason(String value) {
    return Optional.ofNullable(value);
  }

  @ParameterizedTest(name = "{0} -> {1}")
  @CsvSource({
      // loopback
      "127.0.0.1, loopback",
      "127.255.255.254, loopback",
      "::1, loopback",
      // RFC 1918
      "10.0.0.0, private",
      "10.255.255.255, private",
      "172.16.0.0, private",
      "172.31.255.255, private",
      "192.168.0.1, private",
      "192.168.255.255, private",
      // CGNAT
      "100.64.0.0, shared address space",
      "100.127.255.255, shared address space",
      // link-local, including the cloud metadata endpoint
      "169.254.0.1, link-local",
      "169.254.169.254, link-local",
      "fe80::1, link-local",
      "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff, link-local",
      // multicast
      "224.0.0.1, multicast",
      "239.255.255.255, multicast",
      "ff02::1, multicast",
      "ff0e::101, multicast",
      // unspecified
      "0.0.0.0, unspecified",
      "0.255.255.255, unspecified",
      "::, unspecified",
      // reserved and documentation IPv4
      "192.0.0.8, reserved",
      "192.0.2.1, reserved",
      "198.18.0.1, reserved",
      "198.19.255.255, reserved",
      "198.51.100.7, reserved",
      "203.0.113.9, reserved",
      "240.0.0.1, reserved",
      "255.255.255.255, reserved",
      // IPv6 unique local, documentation, discard
      "fc00::1, unique local",
      "fd12:3456:789a::1, unique local",
      "2001:db8::1, reserved",
      "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff, reserved",
      "100::1, reserved",
      "100::ffff:ffff:ffff:ffff, reserved",
      // extras: deprecated site-local, local-use NAT64
      "fec0::1, site-local",
      "64:ff9b:1::a00:1, reserved",
      // tunnels that end at an IPv4 host of someone else's choosing
      "192.88.99.1, 6to4 relay anycast",
      "2001::1, Teredo tunnel",
      "2001:0:4136:e378:8000:63bf:3fff:fdd2, Teredo tunnel",
  })
  void blocksSpecialRangesByDefault(String address, String expectedReason) {
    assertEquals(reason(expectedReason), defaults.blockReason(ip(address)));
    assertFalse(defaults.isAllowed(ip(address)));
  }

  @ParameterizedTest
  @ValueSource(strings = {
      "93.184.216.34", "8.8.8.8", "1.1.1.1",
      // just outside the blocked ranges
      "9.255.255.255", "11.0.0.0", "100.63.255.255", "100.128.0.0", "126.255.255.255", "128.0.0.0",
      "169.253.255.255", "169.255.0.0", "172.15.255.255", "172.32.0.0", "192.0.1.1", "192.0.3.0",
      "192.167.255.255", "192.169.0.0", "198.17.255.255", "198.20.0.0", "198.51.99.255", "198.51.101.0",
      "203.0.112.255", "203.0.114.0", "223.255.255.255",
      "2606:4700::1111", "2001:4860:4860::8888", "2a00:1450:4001:82b::200e",
      "100:0:0:1::", "2001:db9::1", "fbff:ffff::1", "fe7f::1", "64:ff9b:2::1",
      "192.88.98.255", "192.88.100.0", "2001:1::1",
  })
  void allowsPublicAddresses(String address) {
    assertEquals(Optional.empty(), defaults.blockReason(ip(address)));
    assertTrue(defaults.isAllowed(ip(address)));
  }

  @Test
  void javaFoldsIpv4MappedLiteralsIntoIpv4() {
    // Documented JDK behaviour the guard relies on being handled either way.
    InetAddress folded = ip("::ffff:127.0.0.1");

    assertInstanceOf(Inet4Address.class, folded);
    assertEquals(Optional.of("loopback"), defaults.blockReason(folded));
  }

  @ParameterizedTest(name = "::ffff:{0} -> {1}")
  @CsvSource({
      "127.0.0.1, loopback",
      "10.1.2.3, private",
      "169.254.169.254, link-local",
      "100.64.1.1, shared address space",
      "0.0.0.0, unspecified",
      "255.255.255.255, reserved",
      "93.184.216.34,",
  })
  void judgesIpv4MappedIpv6ByTheEmbeddedAddress(String ipv4, String expectedReason) throws Exception {
    Inet6Address mapped = mappedInet6(ipv4);

    assertEquals(reason(expectedReason), defaults.blockReason(mapped));
  }

  @ParameterizedTest(name = "{0} -> {1}")
  @CsvSource({
      // IPv4-compatible (Java keeps these as Inet6Address)
      "::127.0.0.1, loopback",
      "::10.0.0.1, private",
      "::169.254.169.254, link-local",
      "::0.0.0.2, unspecified",
      "::93.184.216.34,",
      // IPv4-translated (RFC 2765)
      "::ffff:0:127.0.0.1, loopback",
      "::ffff:0:8.8.8.8,",
      // NAT64 well-known prefix
      "64:ff9b::127.0.0.1, loopback",
      "64:ff9b::a9fe:a9fe, link-local",
      "64:ff9b::c0a8:101, private",
      "64:ff9b::5db8:d822,",
      // 6to4
      "2002:7f00:1::1, loopback",
      "2002:c0a8:101::1, private",
      "2002:a9fe:a9fe::, link-local",
      "2002:5db8:d822::1,",
  })
  void judgesOtherIpv6FormsByTheEmbeddedIpv4(String address, String expectedReason) {
    InetAddress parsed = ip(address);
    assertInstanceOf(Inet6Address.class, parsed);

    assertEquals(reason(expectedReason), defaults.blockReason(parsed));
  }

  @Test
  void allowPrivateAllowsEverything() throws Exception {
    DestinationGuard open = DestinationGuard.fromConfig(true, null);

    for (String address : new String[] {"127.0.0.1", "10.0.0.1", "169.254.169.254", "::1", "fd00::1", "ff02::1",
        "0.0.0.0", "255.255.255.255", "93.184.216.34"}) {
      assertEquals(Optional.empty(), open.blockReason(ip(address)), address);
    }
    assertEquals(Optional.empty(), open.blockReason(mappedInet6("127.0.0.1")));
    assertEquals(Optional.empty(), open.blockReasonForLiteral("localhost"));
    assertEquals(Optional.empty(), open.blockReasonForLiteral("[::1]"));
  }

  @Test
  void allowListOpensOnlyTheListedNetworks() {
    DestinationGuard guard = DestinationGuard.fromConfig(false, "10.20.0.0/16, fd00::/8 ,127.0.0.1");

    assertEquals(Optional.empty(), guard.blockReason(ip("10.20.3.4")));
    assertEquals(Optional.of("private"), guard.blockReason(ip("10.21.0.1")));
    assertEquals(Optional.of("private"), guard.blockReason(ip("192.168.1.1")));
    assertEquals(Optional.empty(), guard.blockReason(ip("fd00::1")));
    assertEquals(Optional.empty(), guard.blockReason(ip("fdff:ffff::1")));
    assertEquals(Optional.of("unique local"), guard.blockReason(ip("fc00::1")));
    // a bare address is a single host
    assertEquals(Optional.empty(), guard.blockReason(ip("127.0.0.1")));
    assertEquals(Optional.of("loopback"), guard.blockReason(ip("127.0.0.2")));
    assertEquals(Optional.of("loopback"), guard.blockReason(ip("::1")));
    // public addresses stay allowed
    assertEquals(Optional.empty(), guard.blockReason(ip("93.184.216.34")));
  }

  @Test
  void allowListAppliesToEmbeddedIpv4Too() throws Exception {
    DestinationGuard guard = DestinationGuard.fromConfig(false, "10.20.0.0/16");

    assertEquals(Optional.empty(), guard.blockReason(mappedInet6("10.20.0.5")));
    assertEquals(Optional.empty(), guard.blockReason(ip("64:ff9b::a14:5")));
    assertEquals(Optional.of("private"), guard.blockReason(mappedInet6("10.21.0.5")));
  }

  @Test
  void allowListCanOpenTheMetadataEndpointDeliberately() {
    DestinationGuard guard = DestinationGuard.fromConfig(false, "169.254.169.254");

    assertEquals(Optional.empty(), guard.blockReason(ip("169.254.169.254")));
    assertEquals(Optional.of("link-local"), guard.blockReason(ip("169.254.169.253")));
  }

  @Test
  void hostBitsBeyondThePrefixAreIgnored() {
    DestinationGuard guard = DestinationGuard.fromConfig(false, "192.168.1.77/24,fd12:3456::99/32");

    assertEquals(Optional.empty(), guard.blockReason(ip("192.168.1.5")));
    assertEquals(Optional.of("private"), guard.blockReason(ip("192.168.2.5")));
    assertEquals(Optional.empty(), guard.blockReason(ip("fd12:3456:ffff::1")));
    assertEquals("DestinationGuard[allowPrivate=false, allowedNetworks=[192.168.1.0/24, fd12:3456::/32]]",
        guard.toString());
  }

  @Test
  void nonOctetPrefixesAreMatchedBitExactly() {
    DestinationGuard guard = DestinationGuard.fromConfig(false, "172.16.8.0/21");

    assertEquals(Optional.empty(), guard.blockReason(ip("172.16.8.0")));
    assertEquals(Optional.empty(), guard.blockReason(ip("172.16.15.255")));
    assertEquals(Optional.of("private"), guard.blockReason(ip("172.16.7.255")));
    assertEquals(Optional.of("private"), guard.blockReason(ip("172.16.16.0")));
  }

  @Test
  void zeroPrefixOpensAWholeFamily() {
    DestinationGuard guard = DestinationGuard.fromConfig(false, "0.0.0.0/0");

    assertEquals(Optional.empty(), guard.blockReason(ip("127.0.0.1")));
    assertEquals(Optional.of("loopback"), guard.blockReason(ip("::1")));
  }

  @ParameterizedTest
  @NullSource
  @ValueSource(strings = {"", "  "})
  void blankAllowListIsEmpty(String config) {
    DestinationGuard guard = DestinationGuard.fromConfig(false, config);

    assertEquals(Optional.of("private"), guard.blockReason(ip("10.0.0.1")));
    assertEquals("DestinationGuard[allowPrivate=false, allowedNetworks=[]]", guard.toString());
  }

  @ParameterizedTest
  @ValueSource(strings = {
      "10.0.0.0/33", "fd00::/129", "10.0.0/8", "10.0.0.0.0/8", "10.0.0.256/8", "010.0.0.0/8", "10.0.0.0/",
      "/8", "10.0.0.0/8/8", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/08x", "10.0.0.0/0008", "example.com",
      "example.com/8", "fd00:::/8", "fd00::1::/64", "fe80::1%eth0", "1:2:3:4:5:6:7:8:9/64", "12345::/16",
      "[fd00::]/8", "10.0.0.0 /8",
  })
  void malformedNetworkNamesConfigKeyAndEntry(String bad) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> DestinationGuard.fromConfig(false, "192.168.0.0/16, " + bad));

    assertTrue(e.getMessage().contains("allowed_networks"), e.getMessage());
    assertTrue(e.getMessage().contains("entry 2"), e.getMessage());
    assertTrue(e.getMessage().contains("'" + bad.strip() + "'"), e.getMessage());
  }

  @Test
  void emptyNetworkEntryIsRejected() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> DestinationGuard.fromConfig(false, "10.0.0.0/8,,fd00::/8"));

    assertTrue(e.getMessage().contains("allowed_networks"), e.getMessage());
    assertTrue(e.getMessage().contains("entry 2"), e.getMessage());
  }

  @Test
  void describeFormatsTheDecision() {
    assertEquals("blocked destination 10.1.2.3 (private)", defaults.describe(ip("10.1.2.3")));
    assertEquals("blocked destination 0:0:0:0:0:0:0:1 (loopback)", defaults.describe(ip("::1")));
    assertEquals("allowed destination 93.184.216.34", defaults.describe(ip("93.184.216.34")));
  }

  @ParameterizedTest(name = "{0} -> {1}")
  @CsvSource({
      // IPv4 literals
      "127.0.0.1, loopback",
      "10.1.2.3, private",
      "169.254.169.254, link-local",
      "10.1.2.3., private",
      // numeric spellings resolvers and URL parsers still accept
      "127.1, loopback",
      "2130706433, loopback",
      "0x7f.0.0.1, loopback",
      "0x7F000001, loopback",
      "0177.0.0.1, loopback",
      "017700000001, loopback",
      "0, unspecified",
      "0xa9.254.169.254, link-local",
      "192.168.257, private",
      // numeric-looking but not an address
      "1.2.3.999, invalid address literal",
      "1.2.3.4.5, invalid address literal",
      "256.1.1.1, invalid address literal",
      "08.1.1.1, invalid address literal",
      "4294967296, invalid address literal",
      "1..2.3, invalid address literal",
      "foo.123, invalid address literal",
      // IPv6 literals, bracketed or not, with zones
      "[::1], loopback",
      "::1, loopback",
      "[0:0:0:0:0:0:0:1], loopback",
      "[fe80::1%25eth0], link-local",
      "fe80::1%eth0, link-local",
      "[::ffff:169.254.169.254], link-local",
      "[::ffff:7f00:1], loopback",
      "[::ffff:0:10.0.0.1], private",
      "[64:ff9b::10.0.0.1], private",
      "[2002:a00:1::], private",
      "[FD00::1], unique local",
      "[ff02::1], multicast",
      "[::], unspecified",
      // malformed IPv6
      "[::1, invalid address literal",
      "[example.com], invalid address literal",
      "[], invalid address literal",
      "1:2:3, invalid address literal",
      "1::2::3, invalid address literal",
      ":::1, invalid address literal",
      "[12345::1], invalid address literal",
      "[1:2:3:4:5:6:7:8:9], invalid address literal",
      "[1:2:3:4:5:6:7:8::], invalid address literal",
      "[::1.2.3.4:5], invalid address literal",
      "[1.2.3.4::], invalid address literal",
      "[::ffff:1.2.3], invalid address literal",
      "[::ffff:01.2.3.4], invalid address literal",
      "[::1]:8080, invalid address literal",
      "[2606:4700::1111]x, invalid address literal",
      "[127.0.0.1], invalid address literal",
      "example.com:443, invalid address literal",
      // localhost is loopback by definition (RFC 6761)
      "localhost, loopback",
      "LOCALHOST, loopback",
      "localhost., loopback",
      "api.localhost, loopback",
      "a.b.localhost., loopback",
  })
  void judgesLiteralsWithoutDns(String host, String expectedReason) {
    assertEquals(reason(expectedReason), defaults.blockReasonForLiteral(host));
  }

  @ParameterizedTest
  @ValueSource(strings = {
      "93.184.216.34", "8.8.8.8.", "[2606:4700::1111]", "2606:4700::1111",
      "[1:2:3:4:5:6:7::]", "[::2:3:4:5:6:7:8]", "[1:2:3:4:5:6:1.2.3.4]", "[::ffff:5db8:d822]",
  })
  void publicLiteralsPass(String host) {
    assertEquals(Optional.empty(), defaults.blockReasonForLiteral(host));
  }

  // The next three tests pin forms that Netty's NetUtil (which reads dotted quads and IPv6 for the guard) reads
  // differently from URL parsers, from inet_aton or from what an allow-list entry says; the guard keeps its own reading.

  @ParameterizedTest(name = "{0} -> {1}")
  @CsvSource({
      // a leading zero is octal to URL parsers and inet_aton; NetUtil would read 12.0.0.1 and 10.0.0.1
      "012.0.0.1, private",
      "0251.0376.0251.0376, link-local",
      "010.0.0.1,",
      // a zone is dropped whatever it is: it picks an interface, not an address (NetUtil's InetAddress factory
      // returns null for a zone that is not a number)
      "[::1%lo], loopback",
      "fe80::1%, link-local",
      "[::ffff:10.0.0.1%1], private",
      // IPv4-compatible stays IPv4-compatible; NetUtil would return ::ffff:0.0.0.1 (judged "unspecified")
      "[::0.0.0.1], loopback",
      "[::10.0.0.1], private",
      // dotted tails NetUtil refuses are judged by what they embed, or by their own range
      "[::ffff:0:169.254.169.254], link-local",
      "[64:ff9b::127.0.0.1], loopback",
      "[64:ff9b::8.8.8.8],",
      "[fd00:0:0:0:0:0:8.8.8.8], unique local",
      // a leading zero in a dotted tail is ambiguous (NetUtil would read it as decimal), so refused
      "[::010.0.0.1], invalid address literal",
      "[::ffff:10.0.0.01], invalid address literal",
      "[64:ff9b::010.0.0.1], invalid address literal",
      // brackets only once, around the whole literal
      "[[::1]], invalid address literal",
      "[::1]], invalid address literal",
      "::1], invalid address literal",
  })
  void literalFormsNetUtilReadsDifferentlyKeepTheGuardsReading(String host, String expectedReason) {
    assertEquals(reason(expectedReason), defaults.blockReasonForLiteral(host));
  }

  @ParameterizedTest
  @ValueSource(strings = {
      // NetUtil reads these leading zeros as decimal, inet_aton as octal: an entry cannot mean both, so none is taken
      "10.0.0.01", "00.0.0.0/0", "192.168.001.0/24", "::ffff:010.0.0.0/104", "64:ff9b::10.0.0.01/128",
      // NetUtil strips brackets and zones; neither has a place in an allow-list entry
      "[fd00::1]", "[10.0.0.1]", "fe80::1%1/64", "fe80::%eth0/10", "::1%",
  })
  void ambiguousAllowListEntriesAreRefused(String bad) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> DestinationGuard.fromConfig(false, bad));

    assertTrue(e.getMessage().contains("'" + bad + "'"), e.getMessage());
  }

  @Test
  void allowListEntriesWithDottedTailsMeanWhatTheySay() {
    // NetUtil would read ::10.20.0.0 as ::ffff:10.20.0.0, so the entry would open IPv4-mapped addresses it does not
    // name, and it refuses the NAT64 form outright.
    DestinationGuard guard = DestinationGuard.fromConfig(false, "::10.20.0.0/112, 64:ff9b::10.30.0.0/112");

    assertEquals("DestinationGuard[allowPrivate=false, allowedNetworks=[::a14:0/112, 64:ff9b::a1e:0/112]]",
        guard.toString());
    assertEquals(Optional.empty(), guard.blockReasonForLiteral("[::10.20.0.5]"));
    assertEquals(Optional.of("private"), guard.blockReasonForLiteral("[::ffff:10.20.0.5]"));
    assertEquals(Optional.of("private"), guard.blockReasonForLiteral("10.20.0.5"));
    assertEquals(Optional.empty(), guard.blockReasonForLiteral("[64:ff9b::10.30.0.5]"));
    assertEquals(Optional.of("private"), guard.blockReasonForLiteral("10.30.0.5"));
  }

  @ParameterizedTest
  @ValueSource(strings = {
      // Names are left for the post-resolution check, whatever they might resolve to. None of these exist, so a DNS
      // lookup, if one happened, could not change the answer; the guard never calls a resolver by construction.
      "example.com", "callbacks.example.invalid", "localhost.example.com", "mylocalhost", "localhost-1.test",
      "127.0.0.1.nip.io.invalid", "0x7f.example", "1e100.net", "xn--bcher-kva.example", "a", "host_with_underscore",
  })
  void namesAreLeftForThePostResolutionCheck(String host) {
    assertEquals(Optional.empty(), defaults.blockReasonForLiteral(host));
  }

  @Test
  void emptyHostIsInvalid() {
    assertEquals(Optional.of("invalid host"), defaults.blockReasonForLiteral(""));
  }

  @Test
  void literalCheckHonoursTheAllowList() {
    DestinationGuard guard = DestinationGuard.fromConfig(false, "10.20.0.0/16,127.0.0.1");

    assertEquals(Optional.empty(), guard.blockReasonForLiteral("10.20.1.1"));
    assertEquals(Optional.of("private"), guard.blockReasonForLiteral("10.21.1.1"));
    assertEquals(Optional.empty(), guard.blockReasonForLiteral("[::ffff:10.20.1.1]"));
    assertEquals(Optional.empty(), guard.blockReasonForLiteral("localhost"));
    assertEquals(Optional.of("loopback"), defaults.blockReasonForLiteral("localhost"));
  }

  @Test
  void literalAndResolvedChecksAgree() {
    for (String literal : new String[] {"127.0.0.1", "10.0.0.1", "100.64.0.1", "169.254.169.254", "224.0.0.1",
        "0.0.0.0", "192.0.2.1", "255.255.255.255", "93.184.216.34", "::1", "fe80::1", "fc00::1", "2001:db8::1",
        "ff02::1", "::", "2606:4700::1111", "::ffff:10.0.0.1", "64:ff9b::a00:1", "2002:a00:1::1"}) {
      assertEquals(defaults.blockReason(ip(literal)), defaults.blockReasonForLiteral(literal), literal);
      if (literal.contains(":")) { // only IPv6 may be bracketed
        assertEquals(defaults.blockReason(ip(literal)), defaults.blockReasonForLiteral("[" + literal + "]"), literal);
      }
    }
  }

  @Test
  void rejectsNulls() {
    assertThrows(NullPointerException.class, () -> defaults.blockReason(null));
    assertThrows(NullPointerException.class, () -> defaults.blockReasonForLiteral(null));
  }
}
