"""A NAT lab built from Linux network namespaces, per test.

    inet: bridge br0, the simulated internet, 203.0.113.0/24 (a documentation range)
     ├── public hosts   203.0.113.10, .11, …   (signalling server, coturn)
     └── NAT routers    wan 203.0.113.101, …   each with a LAN bridge 10.0.N.1/24
                         └── hosts 10.0.N.2, …

Every namespace is created by the lab and linked only to other lab
namespaces (veth pairs are created directly inside them), never to the
host's network. Names carry a random prefix, so two runs cannot collide.
`close()` ends every process the lab started and deletes every namespace,
and with them every interface and iptables rule inside.

NAT behaviours (facts verified on these machines in ../shared/NETLAB.md),
each checked by probes in tests/test_lab.py:
- "full-cone": MASQUERADE keeps the source port when it is free
  (endpoint-independent mapping), and a static DNAT sends every inbound UDP
  datagram on to the LAN's one host: anyone may send to a mapping.
- "address-restricted": the same mapping; inbound datagrams are let in from
  any port of an address the host has sent to (an xt_recent list of them).
- "port-restricted": the same mapping; conntrack lets in only replies from
  the exact address and port contacted.
- "symmetric": MASQUERADE --random-fully, a new public port per destination.
Every router drops NEW packets from the WAN to itself before conntrack
confirms them (otherwise an early punch packet occupies the mapping
MASQUERADE wants, and the router turns symmetric by accident). Full-cone and
address-restricted routers serve one LAN host, the target of their DNAT.
IPv6 is off until `Lab.enable_ipv6` makes chosen hosts and routers dual-stack
(2001:db8::/32, no NAT, a stateful ip6tables firewall on each router).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

UDPTOOL = Path(__file__).with_name("udptool.py")
NAT_KINDS = ("full-cone", "address-restricted", "port-restricted", "symmetric")
TOOLS = ("ip", "iptables", "ip6tables", "conntrack", "turnserver")


def require_lab() -> None:
    """The lab needs root and its tools: missing is a failure under CI, a skip elsewhere."""
    problems = [f"{tool} is not installed" for tool in TOOLS if shutil.which(tool) is None]
    if os.geteuid() != 0:
        problems.append("the NAT lab needs root")
    if problems:
        message = "; ".join(problems)
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def run(*args: str, timeout: float = 10) -> str:
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


@dataclass
class Host:
    lab: Lab
    namespace: str
    ip: str
    #: Its global IPv6 address, once `Lab.enable_ipv6` gave it one.
    ip6: str = ""

    def run(self, *args: str, timeout: float = 10) -> str:
        return run("ip", "netns", "exec", self.namespace, *args, timeout=timeout)

    def popen(self, *args: str, **kwargs) -> subprocess.Popen:
        return self.lab.popen(self.namespace, *args, **kwargs)

    def python(self, *args: str, **kwargs) -> subprocess.Popen:
        return self.popen(sys.executable, *args, **kwargs)

    def add_address(self, ip: str) -> None:
        """A second address on the host's only interface (a public host's, say)."""
        self.run("ip", "addr", "add", f"{ip}/24", "dev", "eth0")

    def move_to(self, ip: str) -> None:
        """A new address on the host's LAN in place of its old one (DHCP gave it
        another, say): what its sockets bound to 0.0.0.0 send leaves from ip now."""
        old, self.ip = self.ip, ip
        # Old first: deleting a primary address deletes its secondaries (and the default route).
        self.run("ip", "addr", "del", f"{old}/24", "dev", "eth0")
        self.run("ip", "addr", "add", f"{ip}/24", "dev", "eth0")
        self.run("ip", "route", "replace", "default", "via", ip.rsplit(".", 1)[0] + ".1")


@dataclass
class Router(Host):
    kind: str = "port-restricted"
    lan_prefix: str = ""
    hosts: list[Host] = field(default_factory=list)

    def flush_conntrack(self) -> None:
        """Forget every mapping, as a NAT rebinding does."""
        self.run("conntrack", "-F")

    def ip6_firewall(self) -> None:
        """A home router's IPv6 firewall: no NAT, the LAN's addresses are global, but
        inbound is only what answers traffic the LAN sent (and ICMPv6, which IPv6
        needs). Two hosts behind two of these reach each other only by punching."""
        for rule in (
            ["-A", "FORWARD", "-i", "lanbr", "-o", "wan", "-j", "ACCEPT"],
            ["-A", "FORWARD", "-i", "wan", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"],
            ["-A", "FORWARD", "-i", "wan", "-p", "ipv6-icmp", "-j", "ACCEPT"],
            ["-A", "FORWARD", "-i", "wan", "-j", "DROP"],
        ):
            self.run("ip6tables", *rule)
    def remap_udp_ports(self, low: int, high: int) -> None:
        """From now on map UDP only to external ports low-high, and forget every UDP
        mapping: the next datagram out leaves from another external port (a
        rebinding that changes the port, as a CGNAT or a restarted router's does).
        TCP (the signalling connection) keeps its mapping."""
        self.run(
            "iptables", "-t", "nat", "-I", "POSTROUTING", "1", "-o", "wan", "-p", "udp",
            "-j", "MASQUERADE", "--to-ports", f"{low}-{high}",
        )
        self.run("conntrack", "-D", "-p", "udp")


class Lab:
    def __init__(self) -> None:
        self.prefix = f"p2l{uuid.uuid4().hex[:6]}"
        #: Files of the lab's processes (coturn's pid file, say), removed by close().
        self.files = Path(tempfile.mkdtemp(prefix=f"{self.prefix}-"))
        self.namespaces: list[str] = []
        self.processes: list[subprocess.Popen] = []
        self._next_public = 10
        self._next_router = 101
        self._next_lan = 1
        self._next_link = 0
        try:
            self.inet = self._namespace("inet")
            self._ip(self.inet, "link", "add", "br0", "type", "bridge")
            self._ip(self.inet, "link", "set", "br0", "up")
        except BaseException:
            self.close()  # What was made so far goes too.
            raise

    # --- Building ------------------------------------------------------------------

    def _namespace(self, name: str) -> str:
        namespace = f"{self.prefix}-{name}"
        run("ip", "netns", "add", namespace)
        self.namespaces.append(namespace)
        self._ip(namespace, "link", "set", "lo", "up")
        return namespace

    @staticmethod
    def _ip(namespace: str, *args: str) -> None:
        run("ip", "-n", namespace, *args)

    def _link(self, a: str, a_if: str, b: str, b_if: str) -> None:
        """A veth pair made inside the two lab namespaces; the host's never sees it."""
        self._ip(a, "link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", b)
        self._ip(a, "link", "set", a_if, "up")
        self._ip(b, "link", "set", b_if, "up")

    def _link_name(self, kind: str) -> str:
        """A unique interface name (they are at most 15 characters)."""
        self._next_link += 1
        return f"{kind}{self._next_link}"

    def _attach_to_internet(self, namespace: str, wan_if: str, ip: str) -> None:
        port = self._link_name("v")
        self._link(self.inet, port, namespace, wan_if)
        self._ip(self.inet, "link", "set", port, "master", "br0")
        self._ip(namespace, "addr", "add", f"{ip}/24", "dev", wan_if)

    def public_host(self, name: str) -> Host:
        ip = f"203.0.113.{self._next_public}"
        self._next_public += 1
        namespace = self._namespace(name)
        self._attach_to_internet(namespace, "eth0", ip)
        return Host(self, namespace, ip)

    def nat(self, name: str, kind: str = "port-restricted") -> Router:
        if kind not in NAT_KINDS:
            raise ValueError(f"unknown NAT kind {kind!r}")
        wan_ip = f"203.0.113.{self._next_router}"
        self._next_router += 1
        lan = self._next_lan
        self._next_lan += 1
        namespace = self._namespace(name)
        self._attach_to_internet(namespace, "wan", wan_ip)
        self._ip(namespace, "link", "add", "lanbr", "type", "bridge")
        self._ip(namespace, "link", "set", "lanbr", "up")
        self._ip(namespace, "addr", "add", f"10.0.{lan}.1/24", "dev", "lanbr")
        router = Router(self, namespace, wan_ip, kind=kind, lan_prefix=f"10.0.{lan}")
        router.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
        masquerade = ["-j", "MASQUERADE"] + (["--random-fully"] if kind == "symmetric" else [])
        # An address-restricted router remembers every address its LAN sent to.
        remember = ["-m", "recent", "--name", "contacted", "--rdest", "--set"] if kind == "address-restricted" else []
        for rule in (
            ["-t", "nat", "-A", "POSTROUTING", "-o", "wan", *masquerade],
            ["-A", "FORWARD", "-i", "lanbr", "-o", "wan", *remember, "-j", "ACCEPT"],
            ["-A", "FORWARD", "-i", "wan", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"],
            # What the cone routers' DNAT (see lan_host) let in.
            ["-A", "FORWARD", "-i", "wan", "-m", "conntrack", "--ctstate", "DNAT", "-j", "ACCEPT"],
            ["-A", "FORWARD", "-i", "wan", "-j", "DROP"],
            # The conntrack trap (NETLAB.md): never let an unsolicited packet to the
            # router itself be confirmed, or it takes the port MASQUERADE would keep.
            ["-A", "INPUT", "-i", "wan", "-m", "conntrack", "--ctstate", "NEW", "-j", "DROP"],
        ):
            router.run("iptables", *rule)
        return router

    def offline_lan(self, name: str) -> Router:
        """A LAN with no way out: a bridge 10.0.N.1/24 in its own namespace, linked
        to nothing else (an offline LAN, a plane). Add hosts with lan_host."""
        lan = self._next_lan
        self._next_lan += 1
        namespace = self._namespace(name)
        self._ip(namespace, "link", "add", "lanbr", "type", "bridge")
        self._ip(namespace, "link", "set", "lanbr", "up")
        self._ip(namespace, "addr", "add", f"10.0.{lan}.1/24", "dev", "lanbr")
        return Router(self, namespace, f"10.0.{lan}.1", kind="none", lan_prefix=f"10.0.{lan}")

    def lan_host(self, router: Router, name: str) -> Host:
        ip = f"{router.lan_prefix}.{len(router.hosts) + 2}"
        namespace = self._namespace(name)
        port = self._link_name("h")
        self._link(router.namespace, port, namespace, "eth0")
        self._ip(router.namespace, "link", "set", port, "master", "lanbr")
        self._ip(namespace, "addr", "add", f"{ip}/24", "dev", "eth0")
        self._ip(namespace, "route", "add", "default", "via", f"{router.lan_prefix}.1")
        host = Host(self, namespace, ip)
        router.hosts.append(host)
        if router.kind in ("full-cone", "address-restricted"):
            if len(router.hosts) > 1:
                raise ValueError(f"a {router.kind} router in this lab serves one host")
            only_from = (
                ["-m", "recent", "--name", "contacted", "--rcheck", "--rsource"]
                if router.kind == "address-restricted"
                else []
            )
            # The mapping keeps the host's port, so inbound port N goes to host:N.
            router.run(
                "iptables", "-t", "nat", "-A", "PREROUTING", "-i", "wan", "-p", "udp",
                *only_from, "-j", "DNAT", "--to-destination", ip,
            )
        return host

    # --- IPv6 ----------------------------------------------------------------------

    def enable_ipv6(self, *members: Host) -> None:
        """Make members dual-stack, beside their IPv4 (and NAT), from 2001:db8::/32:

            internet 2001:db8::/64    public host 203.0.113.N -> 2001:db8::N,
                                      router wan 203.0.113.R  -> 2001:db8::R
            a router's LAN 10.0.L.0/24 -> 2001:db8:L::/64, hosts 10.0.L.K -> 2001:db8:L::K

        Routers forward IPv6 behind `Router.ip6_firewall`; a LAN host's router must
        be among members. Every internet member gets a route to every enabled LAN.
        Returns once duplicate address detection is over (IPv6 is usable)."""
        routers = [m for m in members if isinstance(m, Router)]
        for member in members:
            if isinstance(member, Router):
                lan = member.lan_prefix.rsplit(".", 1)[1]
                member.ip6 = f"2001:db8::{member.ip.rsplit('.', 1)[1]}"
                member.run("sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
                self._ip(member.namespace, "-6", "addr", "add", f"{member.ip6}/64", "dev", "wan", "nodad")
                self._ip(member.namespace, "-6", "addr", "add", f"2001:db8:{lan}::1/64", "dev", "lanbr", "nodad")
                member.ip6_firewall()
        for member in members:
            if isinstance(member, Router):
                continue
            router = next((r for r in routers if member in r.hosts), None)
            last = member.ip.rsplit(".", 1)[1]
            if router is None:  # On the internet.
                member.ip6 = f"2001:db8::{last}"
            else:
                lan = router.lan_prefix.rsplit(".", 1)[1]
                member.ip6 = f"2001:db8:{lan}::{last}"
            self._ip(member.namespace, "-6", "addr", "add", f"{member.ip6}/64", "dev", "eth0", "nodad")
            if router is not None:
                self._ip(member.namespace, "-6", "route", "add", "default", "via", f"2001:db8:{lan}::1")
        on_internet = [m for m in members if not any(m in r.hosts for r in routers)]
        for router in routers:
            lan = router.lan_prefix.rsplit(".", 1)[1]
            for member in on_internet:
                if member is not router:
                    self._ip(member.namespace, "-6", "route", "add", f"2001:db8:{lan}::/64", "via", router.ip6)
        self.wait_for_ipv6(*members)

    def wait_for_ipv6(self, *members: Host, timeout: float = 15.0) -> None:
        """Until no address of members is tentative: link-local addresses go
        through duplicate address detection (~2 s) before a router forwards."""
        deadline = time.monotonic() + timeout
        for member in members:
            while run("ip", "-n", member.namespace, "-6", "addr", "show", "tentative").strip():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"IPv6 addresses still tentative in {member.namespace}")
                time.sleep(0.1)  # polling the kernel's state, bounded by the deadline

    def disable_ipv6(self, host: Host) -> None:
        """An IPv4-only host: IPv6 off on every interface of its namespace."""
        host.run("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
        host.run("sysctl", "-qw", "net.ipv6.conf.lo.disable_ipv6=1", "net.ipv6.conf.eth0.disable_ipv6=1")

    # --- Running -------------------------------------------------------------------

    def popen(self, namespace: str, *args: str, **kwargs) -> subprocess.Popen:
        # `ip netns exec` execs the command in place: the pid is the command's own.
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.STDOUT)
        kwargs.setdefault("text", True)
        process = subprocess.Popen(["ip", "netns", "exec", namespace, *args], **kwargs)
        self.processes.append(process)
        return process

    def close(self) -> None:
        """End every process and delete every namespace, whatever fails on the way."""
        try:
            for process in self.processes:
                try:
                    if process.poll() is None:
                        process.kill()
                        process.wait(timeout=10)
                except (OSError, subprocess.TimeoutExpired):
                    pass  # Its namespace goes anyway.
        finally:
            for namespace in reversed(self.namespaces):
                subprocess.run(["ip", "netns", "del", namespace], capture_output=True)
            self.namespaces.clear()
            shutil.rmtree(self.files, ignore_errors=True)


def udptool(host: Host, *args: str) -> subprocess.Popen:
    return host.python(str(UDPTOOL), *args)
