"""The SSRF guard's exact answers: the reason and kind of every refusal (they reach dead letters and
logs, and ``kind`` decides bad_url vs refused_address), the IPv6 forms that hide an IPv4 address,
and the Target an accepted URL becomes. Written against the mutants ``make mutate`` left alive."""

import ipaddress

import pytest

from transforms.io.ssrf import AddressRefused, check_ip, check_url, parse_ip_host

HINT = " (use --allow-private-networks to permit)"


@pytest.mark.parametrize(
    "url, kind, reason",
    [
        ("", "bad_url", "empty URL"),
        (None, "bad_url", "empty URL"),
        ("http://[::1", "bad_url", "malformed URL: Invalid IPv6 URL"),
        ("ftp://example.com/", "bad_url", "scheme 'ftp' refused: only http and https are fetched"),
        ("//example.com/x", "bad_url", "scheme '(none)' refused: only http and https are fetched"),
        ("http:///path", "bad_url", "URL has no host"),
        ("http://user@example.com/", "bad_url", "URLs with credentials are refused"),
        ("http://:pw@example.com/", "bad_url", "URLs with credentials are refused"),
        ("http://exa mple.com/", "bad_url", "malformed host 'exa mple.com'"),
        ("http://a\\b.example/", "bad_url", "malformed host 'a\\\\b.example'"),
        ("http://a..b/", "bad_url", "malformed host name 'a..b'"),
        ("http://metadata.google.internal./", "refused_address",
         "address refused: metadata.google.internal is a cloud metadata host"),
        ("http://[::ffff:7f00:1]/", "refused_address", "address refused: ::ffff:7f00:1 embeds 127.0.0.1 is a loopback address" + HINT),
        ("http://256.0.0.1/", "refused_address", "out-of-range numeric address '256.0.0.1'"),
    ],
)
def test_refusals_carry_their_exact_reason_and_kind(url, kind, reason):
    with pytest.raises(AddressRefused) as info:
        check_url(url)
    assert (info.value.kind, str(info.value)) == (kind, reason)


@pytest.mark.parametrize(
    "host, kind, reason",
    [
        ("[::1", "bad_url", "malformed IPv6 address '[::1'"),  # one bracket is not a bracketed address
        ("::zz", "bad_url", "malformed IPv6 address '::zz'"),
        ("256.0.0.1", "refused_address", "out-of-range numeric address '256.0.0.1'"),
    ],
)
def test_parse_ip_host_refusals(host, kind, reason):
    with pytest.raises(AddressRefused) as info:
        parse_ip_host(host)
    assert (info.value.kind, str(info.value)) == (kind, reason)


@pytest.mark.parametrize(
    "host, address",
    [
        ("0x", "0.0.0.0"),  # a bare hex prefix is zero, as inet_aton reads it
        ("0X7F.0.0.1", "127.0.0.1"),
        ("[fe80::1%eth%0]", "fe80::1"),  # the zone id starts at the first %
        ("FE80::1", "fe80::1"),
    ],
)
def test_parse_ip_host_spellings(host, address):
    assert parse_ip_host(host) == ipaddress.ip_address(address)


@pytest.mark.parametrize(
    "ip, reason",
    [
        ("127.0.0.1", "127.0.0.1 is a loopback address" + HINT),
        ("169.254.1.1", "169.254.1.1 is a link-local address" + HINT),
        ("100.64.0.1", "100.64.0.1 is a shared (carrier-grade NAT) address" + HINT),
        ("fec0::1", "fec0::1 is a site-local address" + HINT),
        ("10.0.0.1", "10.0.0.1 is a private address" + HINT),
        ("fe80::1%eth0", "fe80::1 is a link-local address" + HINT),
        ("fe80::1%a%b", "fe80::1 is a link-local address" + HINT),
        ("240.0.0.1", "240.0.0.1 is a reserved address"),
        ("::1", "::1 is a loopback address" + HINT),  # not an IPv4-compatible 0.0.0.1
        ("::2", "::2 embeds 0.0.0.2 is a private address" + HINT),
        ("::7f00:1", "::7f00:1 embeds 127.0.0.1 is a loopback address" + HINT),
        ("::1:0:0", "::1:0:0 is a reserved address"),  # 33 bits: no IPv4 inside
        ("64:ff9b::7f00:1", "64:ff9b::7f00:1 embeds 127.0.0.1 is a loopback address" + HINT),
        ("64:ff9b:1::a00:1", "64:ff9b:1::a00:1 embeds 10.0.0.1 is a private address" + HINT),
        # Teredo: the client address (second of the pair) is what is reached
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "2001:0:4136:e378:8000:63bf:80ff:fffe embeds 127.0.0.1 is a loopback address" + HINT),
        ("8.8.8.8", None),
        ("64:ff9b::808:808", None),
    ],
)
def test_check_ip_reasons(ip, reason):
    assert check_ip(ip) == reason


def test_allowed_networks_accept_a_cidr_with_host_bits_set():
    assert check_ip("10.1.2.3", allowed_networks=["10.9.9.9/8"]) is None
    assert check_ip("11.1.2.3", allowed_networks=["10.9.9.9/8"]) is None  # public anyway
    assert check_ip("192.168.1.1", allowed_networks=["10.9.9.9/8"]).startswith("192.168.1.1 is a private")


def test_accepted_urls_become_targets():
    t = check_url("http://example.com/a:b@c!$&'()*+,;=-._~ é?q=1/2?x&y=é")
    assert (t.scheme, t.host, t.port, t.ip) == ("http", "example.com", 80, None)
    assert t.path == "/a:b@c!$&'()*+,;=-._~%20%C3%A9?q=1/2?x&y=%C3%A9"
    t = check_url("https://8.8.8.8/")
    assert (t.host, t.port, t.ip, t.path) == ("8.8.8.8", 443, ipaddress.IPv4Address("8.8.8.8"), "/")
    assert check_url("http://a!b.example/").host == "a!b.example"  # '!' (33) is not a control character
