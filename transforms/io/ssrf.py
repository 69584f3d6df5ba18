"""The SSRF guard: which URLs and addresses newsbeam may connect to (pure).

:func:`check_url` vets a URL before any DNS lookup: http/https only, no
credentials, no cloud-metadata host names, IP literals in every spelling an
``inet_aton`` resolver accepts (:func:`parse_ip_host`: ``2130706433``,
``0x7f000001``, ``0177.0.0.1``, ``127.1``). :func:`check_ip` says why an
address is refused: loopback, private (RFC 1918, fc00::/7, 100.64/10),
link-local, unspecified, multicast, reserved or not globally routable, also
when hidden in IPv6 (mapped, 6to4, NAT64, Teredo). ``allow_private_networks``
lifts the loopback/private/link-local refusals, ``allowed_networks`` lifts them
for listed CIDRs only; metadata, unspecified, multicast and reserved addresses
stay refused always. :class:`transforms.io.http.Fetcher` runs these checks for
the first URL, every redirect hop and every resolved address.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from typing import Iterable
from urllib.parse import quote, urlsplit

from transforms.common.records import RejectedInput

__all__ = ["AddressRefused", "Target", "parse_ip_host", "check_ip", "check_url"]


class AddressRefused(RejectedInput):
    """A URL or address the SSRF guard refuses; ``kind`` is ``refused_address``
    for a forbidden destination, ``bad_url`` for a URL that cannot be fetched."""

    def __init__(self, reason: str, kind: str = "refused_address") -> None:
        super().__init__(reason)
        self.kind = kind


_METADATA_NAMES = frozenset({"metadata.google.internal", "metadata.goog", "metadata", "instance-data", "instance-data.ec2.internal"})
_METADATA_IPS = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IP_PART = re.compile(r"^(?:0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*)$")


def parse_ip_host(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address a URL host denotes, or ``None`` for a name.

    Understands every spelling an ``inet_aton`` resolver accepts: dotted quads,
    fewer parts (``127.1``), decimal (``2130706433``), hex (``0x7f000001``,
    ``0x7f.0.0.1``), octal (``0177.0.0.1``), a trailing dot; and IPv6 with or
    without brackets and zone id. A numeric-looking host that is out of range
    raises ``AddressRefused``.
    """
    h = host.strip().lower()
    if h.startswith("[") and h.endswith("]"):
        h = h[1:-1]
    if ":" in h:
        try:
            return ipaddress.IPv6Address(h.split("%", 1)[0])
        except ValueError:
            raise AddressRefused(f"malformed IPv6 address {host!r}", "bad_url") from None
    if h.endswith("."):
        h = h[:-1]
    parts = h.split(".")
    if not h or len(parts) > 4 or not all(_IP_PART.match(p) for p in parts):
        return None
    values = []
    for p in parts:
        if p.startswith(("0x", "0X")):
            values.append(int(p[2:] or "0", 16))
        elif len(p) > 1 and p.startswith("0"):
            values.append(int(p, 8))
        else:
            values.append(int(p))
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        raise AddressRefused(f"out-of-range numeric address {host!r}")
    number = 0
    for v in head:
        number = (number << 8) | v
    number = (number << (8 * (4 - len(head)))) | last
    return ipaddress.IPv4Address(number)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64 or ip in _NAT64_LOCAL:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    # IPv4-compatible (deprecated ::a.b.c.d), excluding :: and ::1 themselves
    if int(ip) >> 32 == 0 and int(ip) > 1:
        return ipaddress.IPv4Address(int(ip))
    return None


def _networks(cidrs: Iterable[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def check_ip(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address | str,
    *,
    allow_private_networks: bool = False,
    allowed_networks: Iterable[str] = (),
) -> str | None:
    """Why ``ip`` must not be connected to, or ``None`` when it may."""
    if isinstance(ip, str):
        ip = ipaddress.ip_address(ip.split("%", 1)[0])
    if ip in _METADATA_IPS:
        return f"{ip} is a cloud metadata address"
    if ip.is_unspecified:
        return f"{ip} is an unspecified address"
    if ip.is_multicast:
        return f"{ip} is a multicast address"
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            why = check_ip(inner, allow_private_networks=allow_private_networks, allowed_networks=allowed_networks)
            return f"{ip} embeds {why}" if why else None
    kind = None
    if ip.is_loopback:
        kind = "loopback"
    elif ip.is_link_local:
        kind = "link-local"
    elif isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        kind = "shared (carrier-grade NAT)"
    elif isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        kind = "site-local"
    elif ip.is_reserved:
        return f"{ip} is a reserved address"
    elif ip.is_private:
        kind = "private"
    elif not ip.is_global:
        return f"{ip} is not a globally routable address"
    if kind is None:
        return None
    if allow_private_networks or any(ip in net for net in _networks(allowed_networks) if net.version == ip.version):
        return None
    return f"{ip} is a {kind} address (use --allow-private-networks to permit)"


@dataclasses.dataclass(frozen=True)
class Target:
    """A URL :func:`check_url` accepted: where to connect and what to call the host."""

    scheme: str
    host: str  # as the server knows it (IDNA ASCII, IPv6 without brackets)
    port: int
    path: str  # path + query, percent-encoded
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None  # set when the host is an IP literal

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def check_url(url: str, *, allow_private_networks: bool = False, allowed_networks: Iterable[str] = ()) -> Target:
    """Parse and vet a URL before any DNS lookup: scheme, host, metadata names,
    IP literals in any spelling. Raises ``AddressRefused`` with the reason."""
    if not isinstance(url, str) or not url.strip():
        raise AddressRefused("empty URL", "bad_url")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
        host = parts.hostname
    except ValueError as exc:
        raise AddressRefused(f"malformed URL: {exc}", "bad_url") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise AddressRefused(f"scheme {scheme or '(none)'!r} refused: only http and https are fetched", "bad_url")
    if not host:
        raise AddressRefused("URL has no host", "bad_url")
    if parts.username is not None or parts.password is not None:
        raise AddressRefused("URLs with credentials are refused", "bad_url")
    if any(ord(c) < 33 or c in "\\" for c in host):
        raise AddressRefused(f"malformed host {host!r}", "bad_url")
    ip = parse_ip_host(host)
    if ip is not None:
        why = check_ip(ip, allow_private_networks=allow_private_networks, allowed_networks=allowed_networks)
        if why:
            raise AddressRefused(f"address refused: {why}")
        ascii_host = str(ip)
    else:
        name = host.rstrip(".").lower()
        if name in _METADATA_NAMES:
            raise AddressRefused(f"address refused: {name} is a cloud metadata host")
        try:
            ascii_host = name.encode("idna").decode("ascii")
        except UnicodeError:
            raise AddressRefused(f"malformed host name {host!r}", "bad_url") from None
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    if parts.query:
        path += "?" + quote(parts.query, safe="/%:@!$&'()*+,;=-._~?")
    return Target(scheme, ascii_host, port or (443 if scheme == "https" else 80), path, ip)
