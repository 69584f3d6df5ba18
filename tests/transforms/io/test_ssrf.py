"""The SSRF guard, pure: every spelling of an address, every refused range,
what the allow flags lift and what they never lift. (That the client applies it
to redirects and DNS answers is in test_http.py.)"""

from __future__ import annotations

import ipaddress

import pytest

from transforms.io.ssrf import AddressRefused, check_ip, check_url, parse_ip_host


@pytest.mark.parametrize(
    "host, expected",
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0X7F000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0177.0000.0.01", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("0xa9fea9fe", "169.254.169.254"),
        ("169.254.43518", "169.254.169.254"),
        ("012.0.0.1", "10.0.0.1"),
        ("0", "0.0.0.0"),
        ("[::1]", "::1"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
        ("fe80::1%eth0", "fe80::1"),
        ("example.com", None),
        ("1.2.3.4.5", None),
        ("08.0.0.1", None),
        ("0x7g.0.0.1", None),
    ],
)
def test_parse_ip_host_reads_every_spelling(host, expected):
    ip = parse_ip_host(host)
    assert (str(ip) if ip is not None else None) == expected


@pytest.mark.parametrize("host", ["256.0.0.1", "1.2.3.256", "4294967296", "1.16777216"])
def test_parse_ip_host_refuses_out_of_range_numbers(host):
    with pytest.raises(AddressRefused):
        parse_ip_host(host)


REFUSED_URLS = [
    "http://127.0.0.1/feed",
    "http://127.8.9.10/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://127.1/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::127.0.0.1]/",
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://0xa9fea9fe/",
    "http://[::ffff:169.254.169.254]/",
    "http://[fd00:ec2::254]/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://METADATA.GOOGLE.INTERNAL./",
    "http://169.254.1.1/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[fd12:3456::1]/",
    "http://0.0.0.0/",
    "http://0/",
    "http://[::]/",
    "http://224.0.0.1/",
    "http://[ff02::1]/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://[2002:7f00:1::]/",  # 6to4 wrapping 127.0.0.1
    "http://[64:ff9b::a00:1]/",  # NAT64 wrapping 10.0.0.1
    "https://192.168.0.10:8443/feed",
]


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_check_url_refuses_internal_destinations(url):
    with pytest.raises(AddressRefused) as info:
        check_url(url)
    assert info.value.kind == "refused_address"
    assert "refused" in str(info.value)


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/feed", "file:///etc/passwd", "gopher://example.com/", "javascript:alert(1)", "http://",
     "//example.com/feed", "http://user:secret@example.com/feed", "http://example.com:99999/", ""],
)
def test_check_url_refuses_unfetchable_urls(url):
    with pytest.raises(AddressRefused) as info:
        check_url(url)
    assert info.value.kind == "bad_url"


def test_check_url_accepts_public_addresses_and_keeps_host_port_path():
    t = check_url("https://Example.COM/news/feed.xml?lang=en&x=ü")
    assert (t.scheme, t.host, t.port, t.ip) == ("https", "example.com", 443, None)
    assert t.path == "/news/feed.xml?lang=en&x=%C3%BC"
    assert t.host_header == "example.com"
    t = check_url("http://93.184.216.34:8080")
    assert (t.host, t.port, t.path, t.host_header) == ("93.184.216.34", 8080, "/", "93.184.216.34:8080")
    assert check_url("http://[2606:4700::1]/").host_header == "[2606:4700::1]"
    assert check_url("http://bücher.example/").host == "xn--bcher-kva.example"


def test_allow_private_networks_lifts_private_but_not_metadata_or_odd_addresses():
    for url in ("http://127.0.0.1/", "http://2130706433/", "http://10.1.2.3/", "http://[::1]/", "http://[fd12::1]/",
                "http://169.254.1.1/", "http://[::ffff:192.168.1.1]/"):
        check_url(url, allow_private_networks=True)
    for url in ("http://169.254.169.254/", "http://[fd00:ec2::254]/", "http://metadata.google.internal/",
                "http://0.0.0.0/", "http://224.0.0.1/", "http://240.0.0.1/"):
        with pytest.raises(AddressRefused):
            check_url(url, allow_private_networks=True)


def test_allowed_networks_lift_only_the_listed_ranges():
    check_url("http://127.0.0.1:8080/", allowed_networks=["127.0.0.1/32"])
    check_url("http://[::ffff:127.0.0.1]/", allowed_networks=["127.0.0.1/32"])
    with pytest.raises(AddressRefused):
        check_url("http://127.0.0.2/", allowed_networks=["127.0.0.1/32"])
    with pytest.raises(AddressRefused):
        check_url("http://10.0.0.1/", allowed_networks=["127.0.0.1/32"])
    assert check_ip("10.9.9.9", allowed_networks=["10.0.0.0/8"]) is None
    assert "metadata" in check_ip("169.254.169.254", allowed_networks=["169.254.0.0/16"])


def test_check_ip_names_the_kind():
    assert check_ip("93.184.216.34") is None
    assert check_ip(ipaddress.ip_address("2606:4700::1")) is None
    assert "loopback" in check_ip("127.0.0.1")
    assert "private" in check_ip("192.168.1.1")
    assert "link-local" in check_ip("fe80::1")
    assert "multicast" in check_ip("239.1.1.1")
