"""miniupnpd (UPnP-IGD, NAT-PMP and PCP) on a lab router, the way it works.

Why it refused every mapping before (NETLAB.md: UPnP error 501, NAT-PMP
result 3, "Failed to add NAT-PMP ..."): not the nft tables. miniupnpd 2.3.1
refuses a WAN address in a reserved range (ours are documentation ranges),
also as `ext_ip=`, unless `ext_perform_stun=yes`. Its STUN test then sends
four requests from four sockets, two of them with CHANGE-REQUEST (RFC 5780),
and unless all four come back with the router's own address and the sockets'
own ports it decides an upstream NAT filters, sets `disable_port_forwarding`
and quietly fails every mapping afterwards (the log says "Port forwarding is
now disabled" once, at the start). So the lab needs:
- a STUN server that answers CHANGE-REQUEST: coturn with two listening
  addresses (with one it answers 420 "configured without RFC 5780 support");
- the router's own packets not port-translated: a symmetric router's
  MASQUERADE --random-fully would rewrite the STUN sockets' ports;
- the answers from the STUN server's other address and port let in to the
  router itself (the lab drops NEW inbound to the router).
The mappings land in miniupnpd's own `inet filter` table (its nft_init.sh
would add a forward chain with policy drop, cutting the lab's routing: we make
the chains by hand with policy accept; the lab's iptables FORWARD accepts
what the DNAT let in).
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from . import Host, Lab, Router

#: The STUN server's second address (RFC 5780 needs two).
STUN_OTHER_IP = "203.0.113.21"

NFT_CHAINS = """
table inet filter {
  chain forward { type filter hook forward priority 0; policy accept; jump miniupnpd; }
  chain miniupnpd { }
  chain prerouting { type nat hook prerouting priority -100; policy accept; jump prerouting_miniupnpd; }
  chain postrouting { type nat hook postrouting priority 100; policy accept; jump postrouting_miniupnpd; }
  chain prerouting_miniupnpd { }
  chain postrouting_miniupnpd { }
}
"""


def require_miniupnpd() -> None:
    """miniupnpd and nft are needed too: missing is a failure under CI, a skip elsewhere."""
    import pytest

    missing = [tool for tool in ("miniupnpd", "nft") if shutil.which(tool) is None]
    if missing:
        message = f"{' and '.join(missing)} not installed (scripts/test installs them)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def start_rfc5780_stun(lab: Lab, host: Host) -> subprocess.Popen:
    """coturn as a STUN server on two addresses, so it answers CHANGE-REQUEST."""
    host.add_address(STUN_OTHER_IP)
    return host.popen(
        "turnserver", "-n", f"--listening-ip={host.ip}", f"--listening-ip={STUN_OTHER_IP}",
        "--listening-port=3478", "--stun-only", "--no-cli", "--no-tls", "--no-dtls",
        f"--pidfile={lab.files / 'stun5780.pid'}",
        stdout=subprocess.DEVNULL,
    )


@dataclass
class Miniupnpd:
    process: subprocess.Popen
    lease_file: Path
    log: list[str]

    def leases(self) -> list[str]:
        """miniupnpd's lease file: one `UDP:eport:iaddr:iport:expiry:desc` line per mapping."""
        try:
            return [line for line in self.lease_file.read_text().splitlines() if line]
        except FileNotFoundError:
            return []

    def has_udp_mapping(self, eport: int, iaddr: str, iport: int) -> bool:
        return any(line.startswith(f"UDP:{eport}:{iaddr}:{iport}:") for line in self.leases())


def run_miniupnpd(lab: Lab, router: Router, stun: Host, *, upnp: bool = True, natpmp: bool = True) -> Miniupnpd:
    """Start miniupnpd on router (its STUN test asks stun, see start_rfc5780_stun);
    returns once it listens, with port forwarding on. The lab's close() ends it."""
    subprocess.run(
        ["ip", "netns", "exec", router.namespace, "nft", "-f", "-"],
        input=NFT_CHAINS, text=True, check=True, capture_output=True, timeout=10,
    )
    # The router's own traffic keeps its ports (see the module's docstring).
    router.run("iptables", "-t", "nat", "-I", "POSTROUTING", "-o", "wan", "-s", router.ip, "-j", "RETURN")
    for ip in (stun.ip, STUN_OTHER_IP):
        router.run("iptables", "-I", "INPUT", "-i", "wan", "-p", "udp", "-s", ip, "-j", "ACCEPT")
    lease_file = lab.files / f"{router.namespace}.leases"
    conf = lab.files / f"{router.namespace}-miniupnpd.conf"
    conf.write_text(
        "\n".join(
            [
                "ext_ifname=wan",
                "listening_ip=lanbr",
                "ext_perform_stun=yes",
                f"ext_stun_host={stun.ip}",
                "ext_stun_port=3478",
                f"enable_upnp={'yes' if upnp else 'no'}",
                f"enable_natpmp={'yes' if natpmp else 'no'}",
                "secure_mode=yes",
                "system_uptime=yes",
                # Short leases, so a test sees them renewed (the default floor is 120 s).
                "min_lifetime=2",
                f"lease_file={lease_file}",
                "uuid=4d7659ad-93f5-44b5-924b-c90e456fcb5a",
                # The package's default rules deny everything: allow the LAN, high ports.
                f"allow 1024-65535 {router.lan_prefix}.0/24 1024-65535",
                "deny 0-65535 0.0.0.0/0 0-65535",
                "",
            ]
        )
    )
    log: list[str] = []
    # coturn may still be starting: miniupnpd's STUN test then fails; try again (bounded).
    for _ in range(5):
        process = router.popen("miniupnpd", "-f", str(conf), "-d")
        if _wait_ready(process, log):
            return Miniupnpd(process, lease_file, log)
        process.kill()
        process.wait(timeout=10)
        time.sleep(0.5)
    raise RuntimeError("miniupnpd did not enable port forwarding:\n" + "\n".join(log[-30:]))


def _wait_ready(process: subprocess.Popen, log: list[str], timeout: float = 15) -> bool:
    """Read miniupnpd's log until it listens for NAT-PMP/PCP; False if forwarding is off.

    A thread reads the pipe for the process's whole life (a full pipe would
    block a chatty miniupnpd); lines reach us through a queue.
    """
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            log.append(line.rstrip())
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + timeout
    enabled = False
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line is None:
            return False  # it exited
        if "Port forwarding is now enabled" in line:
            enabled = True
        elif "Port forwarding is now disabled" in line:
            return False
        elif "Listening for NAT-PMP/PCP traffic" in line:
            return enabled
    return False
