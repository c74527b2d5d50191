"""Noise handshakes: the published test vectors byte for byte, and bad input raising NoiseError only."""

import json
from pathlib import Path

import pytest

from p2ptui.net import noise

_VECTORS_FILE = Path(__file__).parent / "vectors" / "noise.json"
VECTORS = json.loads(_VECTORS_FILE.read_text())["vectors"]

PATTERNS = ["N", "K", "X", "NN", "NK", "NX", "XN", "XK", "XX", "KN", "KK", "KX", "IN", "IK", "IX"]


def _hex(vector: dict, key: str) -> bytes | None:
    return bytes.fromhex(vector[key]) if key in vector else None


def _side(vector: dict, prefix: str) -> noise.HandshakeState:
    return noise.HandshakeState(
        vector["protocol_name"],
        initiator=prefix == "init",
        prologue=_hex(vector, f"{prefix}_prologue") or b"",
        s=_hex(vector, f"{prefix}_static"),
        rs=_hex(vector, f"{prefix}_remote_static"),
        e=_hex(vector, f"{prefix}_ephemeral"),
    )


@pytest.mark.parametrize(
    "vector", VECTORS, ids=[f"{v['protocol_name']}-{i}" for i, v in enumerate(VECTORS)]
)
def test_vector(vector):
    init, resp = _side(vector, "init"), _side(vector, "resp")
    one_way = len(vector["protocol_name"].split("_")[1]) == 1
    ciphers = None
    for i, message in enumerate(vector["messages"]):
        payload, expected = bytes.fromhex(message["payload"]), bytes.fromhex(message["ciphertext"])
        if ciphers is None:
            writer, reader = (init, resp) if i % 2 == 0 else (resp, init)
            assert writer.write_message(payload) == expected
            assert reader.read_message(expected) == payload
            assert init.complete == resp.complete
            if init.complete:
                assert init.handshake_hash == resp.handshake_hash
                if "handshake_hash" in vector:
                    assert init.handshake_hash.hex() == vector["handshake_hash"]
                ciphers = {"init": init.split(), "resp": resp.split()}
        else:
            # Transport: one-way patterns only ever send from the initiator.
            sender, receiver = ("init", "resp") if one_way or i % 2 == 0 else ("resp", "init")
            assert ciphers[sender][0].encrypt_with_ad(b"", payload) == expected
            assert ciphers[receiver][1].decrypt_with_ad(b"", expected) == payload
    assert ciphers is not None, "vector never completed its handshake"


def test_vectors_cover_what_we_rely_on():
    names = {v["protocol_name"] for v in VECTORS}
    for pattern in PATTERNS:
        assert f"Noise_{pattern}_25519_ChaChaPoly_BLAKE2s" in names


# -- handshakes with fresh keys -----------------------------------------------------------------


def _pair(pattern: str, hash_name: str = "BLAKE2s", **overrides):
    """An initiator and responder for pattern, holding exactly the keys the pattern needs."""
    name = f"Noise_{pattern}_25519_ChaChaPoly_{hash_name}"
    one_way = len(pattern) == 1
    init_s, init_pub = noise.generate_keypair()
    resp_s, resp_pub = noise.generate_keypair()
    init_has_s = pattern[0] in "XKI"
    resp_has_s = one_way or pattern[1] in "KX"
    resp_known = one_way or pattern[1] == "K"
    init_kw = dict(s=init_s if init_has_s else None, rs=resp_pub if resp_known else None)
    resp_kw = dict(s=resp_s if resp_has_s else None, rs=init_pub if pattern[0] == "K" else None)
    init_kw.update(overrides.get("init", {}))
    resp_kw.update(overrides.get("resp", {}))
    init = noise.HandshakeState(name, initiator=True, prologue=b"p2ptui", **init_kw)
    resp = noise.HandshakeState(name, initiator=False, prologue=b"p2ptui", **resp_kw)
    return init, resp, (init_pub if init_has_s else None), (resp_pub if resp_has_s else None)


def _run(init, resp):
    turn = 0
    while not init.complete:
        writer, reader = (init, resp) if turn % 2 == 0 else (resp, init)
        payload = f"hello {turn}".encode()
        assert reader.read_message(writer.write_message(payload)) == payload
        turn += 1
    assert resp.complete


@pytest.mark.parametrize("hash_name", ["BLAKE2s", "BLAKE2b", "SHA256", "SHA512"])
@pytest.mark.parametrize("pattern", PATTERNS)
def test_fresh_handshake(pattern, hash_name):
    init, resp, init_pub, resp_pub = _pair(pattern, hash_name)
    _run(init, resp)
    assert init.handshake_hash == resp.handshake_hash
    assert init.remote_static == resp_pub
    assert resp.remote_static == init_pub
    assert resp.remote_ephemeral is not None
    (i_send, i_recv), (r_send, r_recv) = init.split(), resp.split()
    assert init.split() == (i_send, i_recv)  # cached: a second split must not reset nonces
    assert r_recv.decrypt_with_ad(b"ad", i_send.encrypt_with_ad(b"ad", b"ping")) == b"ping"
    if len(pattern) == 2:
        assert i_recv.decrypt_with_ad(b"", r_send.encrypt_with_ad(b"", b"pong")) == b"pong"


def _ik():
    init, resp, _, _ = _pair("IK")
    return init, resp


def test_tampered_ciphertext_fails_and_poisons_state():
    init, resp = _ik()
    message = bytearray(init.write_message(b"secret"))
    message[40] ^= 1  # inside the encrypted static key
    with pytest.raises(noise.NoiseError):
        resp.read_message(bytes(message))
    with pytest.raises(noise.NoiseError):
        resp.write_message()
    with pytest.raises(noise.NoiseError):
        resp.split()


def test_tampered_payload_fails():
    init, resp = _ik()
    message = bytearray(init.write_message(b"secret"))
    message[-1] ^= 0x80
    with pytest.raises(noise.NoiseError):
        resp.read_message(bytes(message))


@pytest.mark.parametrize("keep", [0, 1, 31, 32, 33, 79, 80, 95])
def test_truncated_message(keep):
    init, resp = _ik()
    message = init.write_message()
    assert len(message) == 96  # e(32) + encrypted s(48) + empty payload tag(16)
    with pytest.raises(noise.NoiseError):
        resp.read_message(message[:keep])


def test_out_of_turn():
    init, resp = _ik()
    with pytest.raises(noise.NoiseError):
        resp.write_message()
    with pytest.raises(noise.NoiseError):
        init.read_message(b"\x00" * 96)
    with pytest.raises(noise.NoiseError):
        init.split()
    _run(init, resp)
    with pytest.raises(noise.NoiseError):
        init.write_message()
    with pytest.raises(noise.NoiseError):
        resp.read_message(b"\x00" * 48)


def test_message_size_cap():
    init, resp = _ik()
    with pytest.raises(noise.NoiseError):
        init.write_message(b"x" * (65535 - 96 + 1))
    with pytest.raises(noise.NoiseError):
        resp.read_message(b"\x00" * 65536)
    init, resp = _ik()
    assert len(init.write_message(b"x" * (65535 - 96))) == 65535


def test_low_order_remote_static():
    init, _, _, _ = _pair("IK", init={"rs": bytes(32)})
    with pytest.raises(noise.NoiseError):
        init.write_message()


def test_low_order_remote_ephemeral():
    init, _, _, _ = _pair("NN")
    init.write_message()
    with pytest.raises(noise.NoiseError):
        init.read_message(bytes(32 + 16))


def test_bad_construction_raises_value_error():
    s, pub = noise.generate_keypair()
    for name in ["Noise_XXpsk3_25519_ChaChaPoly_BLAKE2s", "Noise_XX_448_ChaChaPoly_BLAKE2s",
                 "Noise_XX_25519_AESGCM_BLAKE2s", "Noise_XX_25519_ChaChaPoly_MD5", "XX"]:
        with pytest.raises(ValueError):
            noise.HandshakeState(name, initiator=True, s=s)
    with pytest.raises(ValueError):  # IK initiator needs the responder's key
        noise.HandshakeState("Noise_IK_25519_ChaChaPoly_BLAKE2s", initiator=True, s=s)
    with pytest.raises(ValueError):  # XX learns rs in-band; passing it would pin nothing
        noise.HandshakeState("Noise_XX_25519_ChaChaPoly_BLAKE2s", initiator=True, s=s, rs=pub)
    with pytest.raises(ValueError):
        noise.HandshakeState("Noise_XX_25519_ChaChaPoly_BLAKE2s", initiator=False)


# -- cipher states --------------------------------------------------------------------------------


def _transport():
    init, resp = _ik()
    _run(init, resp)
    return init.split(), resp.split()


def test_explicit_nonce_round_trip():
    (send, _), (_, recv) = _transport()
    ct = send.encrypt(7, b"ad", b"datagram")
    assert recv.decrypt(7, b"ad", ct) == b"datagram"
    assert send.n == recv.n == 0
    with pytest.raises(noise.NoiseError):
        recv.decrypt(8, b"ad", ct)
    with pytest.raises(noise.NoiseError):
        recv.decrypt(7, b"other", ct)
    with pytest.raises(noise.NoiseError):
        send.encrypt(noise.MAX_NONCE, b"", b"reserved")
    with pytest.raises(noise.NoiseError):
        noise.CipherState().encrypt(0, b"", b"no key")


def test_failed_decrypt_keeps_counter():
    (send, _), (_, recv) = _transport()
    ct = send.encrypt_with_ad(b"", b"one")
    with pytest.raises(noise.NoiseError):
        recv.decrypt_with_ad(b"", ct[:-1] + bytes([ct[-1] ^ 1]))
    with pytest.raises(noise.NoiseError):
        recv.decrypt_with_ad(b"", b"short")
    assert recv.n == 0
    assert recv.decrypt_with_ad(b"", ct) == b"one"
    assert recv.n == 1


def test_implicit_nonce_exhaustion():
    cipher = noise.CipherState(bytes(32))
    cipher.n = noise.MAX_NONCE
    with pytest.raises(noise.NoiseError):
        cipher.encrypt_with_ad(b"", b"")


def test_rekey():
    (send, _), (_, recv) = _transport()
    old = send.key
    send.rekey()
    recv.rekey()
    assert send.key == recv.key != old
    assert recv.decrypt_with_ad(b"", send.encrypt_with_ad(b"", b"after")) == b"after"
    assert send.n == recv.n == 1  # rekey keeps the counter


def test_public_key_matches_generate():
    private, public = noise.generate_keypair()
    assert len(private) == len(public) == 32
    assert noise.public_key(private) == public
