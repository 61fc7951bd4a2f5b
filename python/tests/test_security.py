import os

import pytest

import airswarm


def test_identity_save_load_fingerprint(identity, tmp_path):
    path = tmp_path / "me.pem"
    identity.save(path)
    assert (os.stat(path).st_mode & 0o777) == 0o600
    again = airswarm.Identity.load(str(path))
    assert again.fingerprint == identity.fingerprint
    assert len(identity.fingerprint) == 64
    assert again.public == identity.public and hash(again.public) == hash(identity.public)
    assert airswarm.PublicKey.from_pem(identity.public.to_pem()).address == identity.address
    with pytest.raises(airswarm.CryptoError):
        airswarm.Identity.from_pem("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    # A missing file is an AirswarmError that names it, with the OSError as its cause.
    with pytest.raises(airswarm.CryptoError, match="no such file") as e:
        airswarm.Identity.load(tmp_path / "missing.pem")
    assert isinstance(e.value.__cause__, FileNotFoundError)


def test_sign_verify_encrypt_decrypt(identity):
    sig = identity.sign(b"msg")
    identity.public.verify(b"msg", sig)
    with pytest.raises(airswarm.CryptoError):
        identity.public.verify(b"msg!", sig)
    ct = identity.public.encrypt(b"secret")
    assert identity.decrypt(ct) == b"secret"
    bad = bytearray(ct)
    bad[10] ^= 1
    with pytest.raises(airswarm.CryptoError):
        identity.decrypt(bytes(bad))


def test_channel_seal_open_and_tampering(identity):
    key = airswarm.Channel.generate_key()
    alice, bob = airswarm.Channel(key), airswarm.Channel(key)
    sealed = alice.seal(7, b"meet at 6", aad=b"hdr")
    opened = bob.open(7, sealed, aad=b"hdr")
    assert (opened.plaintext, opened.signed, opened.signer) == (b"meet at 6", False, None)
    with pytest.raises(airswarm.CryptoError):
        bob.open(7, sealed, aad=b"hdr")  # replay
    sealed2 = alice.seal(7, b"second")
    for i in range(len(sealed2)):
        bad = bytearray(sealed2)
        bad[i] ^= 0x40
        with pytest.raises(airswarm.CryptoError):
            bob.open(7, bytes(bad))
    with pytest.raises(airswarm.CryptoError):
        bob.open(8, sealed2)  # other sender: other subkey
    with pytest.raises(airswarm.CryptoError):
        airswarm.Channel(key[:31])
    signed = alice.seal(identity.address, b"signed", signer=identity)
    opened = bob.open(identity.address, signed, sender_key=identity.public)
    assert (opened.plaintext, opened.signed, opened.signer) == (b"signed", True, identity.fingerprint)
    other = airswarm.Channel(airswarm.Channel.key_from_passphrase("ops", "correct horse"))
    with pytest.raises(airswarm.CryptoError):
        other.open(7, alice.seal(7, b"x"))


def test_channel_nonces_never_repeat_across_restarts():
    # Two "boots" of the same sender with the same key: each draws its own epoch, so the
    # same plaintext never gives the same ciphertext (no keystream reuse).
    key = airswarm.Channel.generate_key()
    first = [airswarm.Channel(key).seal(7, b"same") for _ in range(20)]
    assert len({blob[3:] for blob in first}) == 20