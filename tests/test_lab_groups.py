"""Groups in the NAT lab: four members behind four kinds of NAT (one symmetric, with a
coturn relay); one away while the others talk, an author gone before it returns."""

import pytest

from . import groupscenario
from .test_lab import lab, peers  # noqa: F401 (fixtures)
from .test_lab_relay import Coturn

pytestmark = pytest.mark.lab


def test_four_members_behind_four_nats_one_away_get_every_message_and_the_same_log(lab, peers, tmp_path):  # noqa: F811
    coturn = Coturn(lab, lab.public_host("turn")).start()
    kinds = {"alice": "full-cone", "bob": "address-restricted", "carol": "symmetric", "dave": "port-restricted"}
    hosts = {name: lab.lan_host(lab.nat(f"r{name[0]}", kind), name) for name, kind in kinds.items()}

    def start(name, *args):
        return peers.run(
            hosts[name], "pipe", "--name", name, "--signal", peers.url, "--config-dir", str(tmp_path / name),
            "--turn", coturn.url, *args,
        )

    # carol (behind the symmetric NAT) is the one away; bob is the author who goes before she returns.
    logs = groupscenario.run(start, ["alice", "carol", "bob", "dave"])
    assert len(logs["carol"]) == 7
