"""An attacker on the lab's internet, run inside a lab namespace. Prints one JSON report.

    intruder.py inject --to IP:PORT --payload HEX --seconds S
        Sends the datagram once, from a fresh UDP socket, and reports every
        datagram that came back within S seconds: {"answers": [HEX, ...]}.
        To replay or forge p2ptui datagrams, and to check the path with a probe.

    intruder.py signal --server IP:PORT --name NAME --victim NAME --impersonate NAME
                       --udp-port PORT [--wait S]
        A third client of the signalling server, trying in turn:
        1. to register under the impersonated name with its own key;
        2. to send the victim an offer in the impersonated name;
        3. as itself, an offer whose candidates were changed after signing;
        4. as itself, a genuine signed offer (the control: the victim answers it);
        5. that same signed offer again, a replay.
        Meanwhile it listens on UDP PORT (the candidate its offers name) for
        the victim's punching probes. It never answers them.

Bounded: each step waits a few seconds at most, and it sends a handful of
lines and datagrams in all.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import select
import socket
import time
import uuid


def address(text):
    host, _, port = text.rpartition(":")
    return host, int(port)


def inject(args):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", 0))
    sock.sendto(bytes.fromhex(args.payload), address(args.to))
    answers = []
    deadline = time.monotonic() + args.seconds
    while (left := deadline - time.monotonic()) > 0 and len(answers) < 100:
        readable, _, _ = select.select([sock], [], [], left)
        if readable:
            data, source = sock.recvfrom(4096)
            answers.append({"from": f"{source[0]}:{source[1]}", "data": data.hex()})
    print(json.dumps({"answers": answers}), flush=True)


class Signalling:
    """A bare client of the built-in server's line protocol (see net/signalling/protocol.py)."""

    def __init__(self, server, udp):
        self.sock = socket.create_connection(server, timeout=5)
        self.udp = udp
        self.buffer = b""
        #: Everything the server sent and every datagram that reached the UDP socket.
        self.received: list[dict] = []
        self.datagrams: list[bytes] = []

    def send(self, op, **fields):
        from p2ptui.net.signalling import protocol

        self.sock.sendall(protocol.encode(op, **fields))

    def poll(self, seconds, until=None):
        """Collect lines and datagrams for up to seconds, or until until(message) holds."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([self.sock, self.udp], [], [], left)
            if self.udp in readable and len(self.datagrams) < 1000:
                self.datagrams.append(self.udp.recv(4096))
            if self.sock in readable:
                data = self.sock.recv(65536)
                if not data:
                    return None
                self.buffer += data
                while b"\n" in self.buffer:
                    line, self.buffer = self.buffer.split(b"\n", 1)
                    message = json.loads(line)
                    self.received.append(message)
                    if until is not None and until(message):
                        return message
        return None


def signal(args):
    from p2ptui.net.identity import Identity
    from p2ptui.net.signalling import protocol
    from p2ptui.net.signalling.messages import Offer, sign

    me = Identity.generate()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("0.0.0.0", args.udp_port))
    client = Signalling(address(args.server), udp)
    my_ip = client.sock.getsockname()[0]  # the address the lab's internet knows us by
    challenge = client.poll(5, lambda m: m.get("op") == "challenge")
    nonce = bytes.fromhex(challenge["nonce"])
    report = {}

    def register(name):
        signature = me.sign(protocol.register_challenge(nonce, name)).hex()
        client.send("register", name=name, key=me.public_key, sig=signature, address=f"{my_ip}:{args.udp_port}")
        return client.poll(5, lambda m: m.get("op") in ("registered", "error"))

    def offer(sender, sender_key, candidates):
        return Offer(
            id=uuid.uuid4().hex,
            sender=sender,
            sender_key=sender_key,
            receiver=args.victim,
            sender_ip=my_ip,
            receiver_ip="",
            port=args.udp_port,
            tag=os.urandom(8).hex(),
            candidates=tuple(candidates),
            expires=time.time() + 30,
        )

    def is_error(message):
        return message.get("op") == "error"

    # 1. The impersonated name is bound to its owner's key.
    report["register_as_impersonated"] = register(args.impersonate)
    report["register"] = register(args.name)
    client.send("watch", name=args.impersonate)
    presence = client.poll(5, lambda m: m.get("op") == "presence")
    real_key = presence["presence"]["key"] if presence else ""
    report["impersonated_key"] = real_key
    # 2. An offer in the impersonated name, with its real key (the server knows it), signed by us.
    ours = sign(offer(args.name, me.public_key, [(my_ip, args.udp_port)]), me)
    claimed = dataclasses.replace(ours, sender=args.impersonate, sender_key=real_key)
    client.send("offer", offer=claimed.to_dict())
    report["impersonation"] = client.poll(5, is_error)
    # 3. Our own offer, its candidates changed after signing: a bad signature.
    signed = sign(offer(args.name, me.public_key, [(my_ip, args.udp_port + 1)]), me)
    tampered = dataclasses.replace(signed, candidates=((my_ip, args.udp_port),))
    client.send("offer", offer=tampered.to_dict())
    client.poll(args.wait)
    # 4. The control: a genuine offer, which the victim answers and punches toward.
    genuine = sign(offer(args.name, me.public_key, [(my_ip, args.udp_port)]), me)
    client.send("offer", offer=genuine.to_dict())
    client.poll(args.wait, lambda m: m.get("op") == "answer" and m["answer"]["offer_id"] == genuine.id)
    # 5. The same signed offer again: its nonce was seen.
    client.send("offer", offer=genuine.to_dict())
    client.poll(args.wait)

    report.update(
        impersonated_offer={"id": claimed.id, "tag": claimed.tag},
        tampered_offer={"id": tampered.id, "tag": tampered.tag},
        genuine_offer={"id": genuine.id, "tag": genuine.tag},
        received=client.received,
        # Every datagram's to_tag (bytes 3-11 of a p2ptui datagram) and kind.
        datagrams=[{"first": d[:1].hex(), "kind": d[2] if len(d) > 2 else None, "to_tag": d[3:11].hex()}
                   for d in client.datagrams],
    )
    print(json.dumps(report), flush=True)


def main():
    parser = argparse.ArgumentParser()
    roles = parser.add_subparsers(dest="role", required=True)
    i = roles.add_parser("inject")
    i.add_argument("--to", required=True)
    i.add_argument("--payload", required=True)
    i.add_argument("--seconds", type=float, default=1.5)
    s = roles.add_parser("signal")
    s.add_argument("--server", required=True)
    s.add_argument("--name", required=True)
    s.add_argument("--victim", required=True)
    s.add_argument("--impersonate", required=True)
    s.add_argument("--udp-port", type=int, required=True)
    s.add_argument("--wait", type=float, default=3)
    args = parser.parse_args()
    {"inject": inject, "signal": signal}[args.role](args)


if __name__ == "__main__":
    main()
