"""The private-address guard: an audited page must not steer the auditor into its own network
(private, loopback, link-local, reserved, multicast or unspecified addresses). Used by both
crawl engines; `--allow-private` lifts it and is recorded in the manifest."""

from __future__ import annotations

import asyncio
import ipaddress


def is_private(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return False
    return (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved
            or ip.is_multicast or ip.is_unspecified)


async def resolves_private(host: str) -> bool:
    """Whether `host` is, or resolves to, an address the guard refuses."""
    if is_private(host) or host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None)
    except (OSError, ValueError):  # ValueError: UnicodeError of an empty or over-long label
        return False  # unresolvable: the download itself will report the failure
    return any(is_private(str(info[4][0])) for info in infos)


class AddressGuard:
    """Per-host verdicts of the guard, resolved once per host and cached."""

    def __init__(self) -> None:
        self._verdicts: dict[str, bool] = {}

    async def refuses(self, host: str) -> bool:
        verdict = self._verdicts.get(host)
        if verdict is None:
            verdict = self._verdicts[host] = await resolves_private(host)
        return verdict
