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
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

UDPTOOL = Path(__file__).with_name("udptool.py")
NAT_KINDS = ("full-cone", "address-restricted", "port-restricted", "symmetric")
TOOLS = ("ip", "iptables", "conntrack", "turnserver")


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

    def run(self, *args: str, timeout: float = 10) -> str:
        return run("ip", "netns", "exec", self.namespace, *args, timeout=timeout)

    def popen(self, *args: str, **kwargs) -> subprocess.Popen:
        return self.lab.popen(self.namespace, *args, **kwargs)

    def python(self, *args: str, **kwargs) -> subprocess.Popen:
        return self.popen(sys.executable, *args, **kwargs)

    def add_address(self, ip: str) -> None:
        """A second address on the host's only interface (a public host's, say)."""
        self.run("ip", "addr", "add", f"{ip}/24", "dev", "eth0")


@dataclass
class Router(Host):
    kind: str = "port-restricted"
    lan_prefix: str = ""
    hosts: list[Host] = field(default_factory=list)

    def flush_conntrack(self) -> None:
        """Forget every mapping, as a NAT rebinding does."""
        self.run("conntrack", "-F")


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
