"""Where a webhook may be sent (SSRF): its host is resolved and every address
it resolves to must be public, unless ``ZHENDI_WEBHOOK_PRIVATE_ADDRESSES``
allows private ones (development does by default, production never). The
sender connects to the address it checked, so a name that resolves again
elsewhere between the check and the connection (DNS rebinding) cannot move it.
"""

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from app.core.errors import Text, UnprocessableInput

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeWebhookUrl(UnprocessableInput):
    code = "webhook_url_refused"
    title = Text("不允许的回调地址", "Webhook URL refused")
    detail = Text(
        "回调地址须为网页地址，且只能解析到公网地址：{why}",
        "A webhook URL must be http or https and resolve to public addresses: {why}",
    )


NOT_HTTP = Text("协议不受支持", "not http or https")
NOT_A_URL = Text("不是有效的网址", "not a valid URL")
NO_HOST = Text("没有主机名", "no host")
UNRESOLVED = Text("主机名无法解析", "the host does not resolve")
PRIVATE = Text(
    "解析到内网、回环或链路本地地址", "it resolves to a private, loopback or link-local address"
)


@dataclass(frozen=True)
class Target:
    """A checked URL: what to connect to, and the name to ask for."""

    url: str
    host: str
    address: IpAddress


def is_public(address: IpAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


async def resolve(host: str, port: int, timeout: float) -> list[IpAddress]:
    """The host's addresses; none if it does not resolve within ``timeout`` seconds."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    lookup = asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    try:
        infos = await asyncio.wait_for(lookup, timeout)
    except (OSError, UnicodeError, TimeoutError):
        return []
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


async def check(url: str, *, private_allowed: bool, timeout: float) -> Target:
    """The URL's first acceptable address, or ``UnsafeWebhookUrl``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a bad IPv6 literal, a port that is no number
        raise UnsafeWebhookUrl(why=NOT_A_URL) from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeWebhookUrl(why=NOT_HTTP)
    if not parts.hostname:
        raise UnsafeWebhookUrl(why=NO_HOST)
    addresses = await resolve(
        parts.hostname, port or (443 if parts.scheme == "https" else 80), timeout
    )
    if not addresses:
        raise UnsafeWebhookUrl(why=UNRESOLVED)
    if not private_allowed and not all(is_public(address) for address in addresses):
        raise UnsafeWebhookUrl(why=PRIVATE)
    return Target(url, parts.hostname, addresses[0])
