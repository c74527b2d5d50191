"""A UDP probe run inside lab namespaces, to check what a NAT router really does.

    udptool.py server --hosts IP1[,IP2] --ports P1,P2 --seconds S
        Every datagram to one of the addresses is answered from it with the
        address it came from ("seen IP:PORT"); every "poke" is also answered
        from each other address and port, unsolicited, so the client can see
        what its NAT lets in.
    udptool.py client --bind PORT --to IP:PORT[,IP:PORT] --seconds S
        Sends "poke" to each destination and prints, as JSON, every datagram
        that came back within S seconds: [{"from": "IP:PORT", "text": ...}].
    udptool.py stun --bind PORT --to IP:PORT
        Asks a STUN server (with p2ptui's STUN code) for the mapped address.

Bounded: each role ends after S seconds, and sends at most a few datagrams.
"""

import argparse
import json
import selectors
import socket
import time


def address(text):
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)  # [IPv6]:PORT too


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def server(args):
    sockets = []
    for host in args.hosts.split(","):
        for port in args.ports.split(","):
            sock = socket.socket(family(host), socket.SOCK_DGRAM)
            sock.bind((host, int(port)))
            sockets.append(sock)
    selector = selectors.DefaultSelector()
    for sock in sockets:
        selector.register(sock, selectors.EVENT_READ)
    print("ready", flush=True)
    deadline = time.monotonic() + args.seconds
    replies = 0
    while (left := deadline - time.monotonic()) > 0 and replies < 100:
        for key, _ in selector.select(timeout=left):
            data, source = key.fileobj.recvfrom(2048)
            key.fileobj.sendto(f"seen {source[0]}:{source[1]}".encode(), source)
            replies += 1
            if data == b"poke":
                for other in sockets:
                    if other is not key.fileobj:
                        other.sendto(b"unsolicited", source)
                        replies += 1


def client(args):
    ipv6 = any(":" in address(d)[0] for d in args.to.split(","))
    sock = socket.socket(socket.AF_INET6 if ipv6 else socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("::" if ipv6 else "0.0.0.0", args.bind))
    for destination in args.to.split(","):
        sock.sendto(b"poke", address(destination))
    received = []
    deadline = time.monotonic() + args.seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data, source = sock.recvfrom(2048)
        except socket.timeout:
            break
        received.append({"from": f"{source[0]}:{source[1]}", "text": data.decode()})
    print(json.dumps(received), flush=True)


def stun(args):
    from p2ptui.net import stun as codec

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", args.bind))
    sock.settimeout(1.0)
    for _ in range(5):
        txid, request = codec.binding_request()
        sock.sendto(request, address(args.to))
        try:
            data, _ = sock.recvfrom(2048)
        except socket.timeout:
            continue
        response = codec.parse_untrusted(data)
        print(json.dumps({"mapped": f"{response.mapped[0]}:{response.mapped[1]}"}), flush=True)
        return
    print(json.dumps({"mapped": None}), flush=True)


def main():
    parser = argparse.ArgumentParser()
    roles = parser.add_subparsers(dest="role", required=True)
    s = roles.add_parser("server")
    s.add_argument("--hosts", required=True)
    s.add_argument("--ports", required=True)
    s.add_argument("--seconds", type=float, default=5)
    c = roles.add_parser("client")
    c.add_argument("--bind", type=int, required=True)
    c.add_argument("--to", required=True)
    c.add_argument("--seconds", type=float, default=1.5)
    t = roles.add_parser("stun")
    t.add_argument("--bind", type=int, required=True)
    t.add_argument("--to", required=True)
    args = parser.parse_args()
    {"server": server, "client": client, "stun": stun}[args.role](args)


if __name__ == "__main__":
    main()
