"""Keyed hashes of patient ids for the card log: the same patient gives the same hash under one key,
and without the key the hash cannot be checked against guessed ids.

The key is CDS_PATIENT_HASH_KEY when set (needed when several replicas share one store, so that they
count a patient once); otherwise a random key kept in `<data_dir>/patient-hash.key` (mode 0600),
made once by whichever worker process gets there first.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import tempfile
from pathlib import Path

from cds.config import Settings

KEY_FILE = "patient-hash.key"


class PatientHasher:
    def __init__(self, key: bytes):
        self._key = key

    def __call__(self, patient_id: str) -> str:
        """HMAC-SHA256 of the patient id, as 64 hex digits."""
        return hmac.new(self._key, patient_id.encode(), hashlib.sha256).hexdigest()


def patient_key(patient_hash: str) -> int:
    """The first 64 bits of a patient hash as a signed integer: what analytics counts distinct patients
    by (an integer compares far faster than 64 hex digits; two patients share one with a chance of
    about n²/2⁶⁵, under 10⁻⁹ for 100,000 patients)."""
    return int.from_bytes(bytes.fromhex(patient_hash[:16]), "big", signed=True)


def patient_hasher(settings: Settings) -> PatientHasher:
    """The hasher with the configured key, or with the data dir's key file (made if missing)."""
    if settings.patient_hash_key is not None:
        return PatientHasher(settings.patient_hash_key.get_secret_value().encode())
    return PatientHasher(_key_file(settings.data_dir))


def _key_file(data_dir: Path) -> bytes:
    """The key in data_dir, made race-free: written whole to a private temporary file, then linked
    into place (a link never replaces an existing file, so the first process wins and every
    process reads the complete winning key)."""
    path = data_dir / KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=data_dir, prefix=".patient-hash-")  # mode 0600
        try:
            with os.fdopen(descriptor, "w") as file:
                file.write(secrets.token_hex(32))
                file.flush()
                os.fsync(file.fileno())
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(temporary)
    return path.read_text().strip().encode()
