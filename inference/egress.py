"""The outbound address policy: which addresses the gateway may open connections to.

Checked where connections are made, on the address a name resolved to (the relay's
resolver in inference/upstream.py, the pinned address of inference/provider_client.py),
so that no host name, DNS answer or odd spelling of an address gets around it; and on
the host of a URL when it is registered, for a clear error early.

- Never reached, whoever registered the URL: link-local addresses (169.254.0.0/16,
  fe80::/10: cloud metadata endpoints live there), multicast, unspecified (0.0.0.0, ::)
  and broadcast addresses, and IPv4-mapped IPv6 forms of any of them.
- URLs an organization registers (its providers and its projects'): also never
  loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7) or shared (100.64/10)
  addresses, unless the operator allows a range with EGRESS_ALLOWED_RANGES.
- URLs the operator registers (global providers: manage.py, superusers,
  JAN_INFERENCE_MODEL_URL) may use private and loopback addresses: vLLM usually sits at
  a cluster-internal one.
"""

import functools
import ipaddress
import socket
from enum import StrEnum

from django.conf import settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_SHARED = ipaddress.ip_network("100.64.0.0/10")
# Cloud metadata services outside link-local space (AWS over IPv6, Alibaba Cloud).
_METADATA = frozenset(
    {ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")}
)


class Reach(StrEnum):
    """Who registered a URL, hence how far the gateway may go for it."""

    OPERATOR = "operator"
    TENANT = "tenant"


class AddressRefused(OSError):
    """An address the policy forbids; raised where a connection would be opened."""


def _plain(address: Address) -> Address:
    """An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as the IPv4 address it stands for."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@functools.cache
def _allowed_ranges(ranges: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(text.strip(), strict=False) for text in ranges)


def refusal(address: Address, reach: Reach) -> str | None:
    """Why the policy forbids `address` for URLs of `reach`; None when it allows it."""
    address = _plain(address)
    if address.is_link_local or address in _METADATA:
        return "a link-local or cloud metadata address"
    if address.is_multicast or address.is_unspecified:
        return "a multicast or unspecified address"
    if isinstance(address, ipaddress.IPv4Address) and address.packed == b"\xff" * 4:
        return "a broadcast address"
    if reach is Reach.OPERATOR:
        return None
    internal = address.is_loopback or address.is_private or address in _SHARED
    if not internal:
        return None
    allowed = _allowed_ranges(tuple(settings.EGRESS_ALLOWED_RANGES))
    if any(address in network for network in allowed):
        return None
    return "a loopback or private address (an operator may allow its range)"


def literal_address(host: str) -> Address | None:
    """The address a URL's host names literally, in any spelling the system's resolver
    accepts (dotted, hex, octal or a bare integer for IPv4); None for a host name."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    try:  # inet_aton takes what getaddrinfo would: 0xa9fea9fe, 0251.0376..., 2852039166
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def check(address: Address, reach: Reach) -> None:
    """Raise AddressRefused when the policy forbids connecting to `address`."""
    reason = refusal(address, reach)
    if reason is not None:
        raise AddressRefused(f"{address} is {reason}")


def reach_of(*, organization_id: int | None, project_id: int | None) -> Reach:
    """The reach of a provider: its scope says who registered it."""
    if organization_id is None and project_id is None:
        return Reach.OPERATOR
    return Reach.TENANT
