"""Personal data at rest: AES-GCM ciphertext and keyed blind indexes.

Both keys are derived from ``ZHENDI_PII_KEY`` with HKDF under different
labels, so the key that finds a record (the HMAC blind index, used for
uniqueness and lookups) is not the key that decrypts it. Every ciphertext
carries the key version it was written with, so the key can be rotated.
"""

import hashlib
import hmac
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_VERSION = 1
_NONCE_BYTES = 12


def _derive(master: bytes, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(master)


@dataclass(frozen=True)
class Sealed:
    ciphertext: bytes  # nonce || AES-GCM ciphertext and tag
    key_version: int


class PiiCipher:
    def __init__(self, master_key: bytes) -> None:
        self._index_key = _derive(master_key, b"zhendi blind index v1")
        self._aead = AESGCM(_derive(master_key, b"zhendi encryption v1"))

    def blind_index(self, purpose: str, value: str) -> str:
        """A keyed hash of ``value``: equal inputs match, nobody without the key can
        test a guess. ``purpose`` separates the indexes of different fields."""
        message = f"{purpose}\x00{value}".encode()
        return hmac.new(self._index_key, message, hashlib.sha256).hexdigest()

    def seal(self, purpose: str, plaintext: str) -> Sealed:
        nonce = os.urandom(_NONCE_BYTES)
        ciphertext = self._aead.encrypt(nonce, plaintext.encode(), purpose.encode())
        return Sealed(ciphertext=nonce + ciphertext, key_version=KEY_VERSION)

    def open(self, purpose: str, sealed: Sealed) -> str:
        if sealed.key_version != KEY_VERSION:
            raise ValueError(f"no key for version {sealed.key_version}")
        nonce, ciphertext = sealed.ciphertext[:_NONCE_BYTES], sealed.ciphertext[_NONCE_BYTES:]
        return self._aead.decrypt(nonce, ciphertext, purpose.encode()).decode()
