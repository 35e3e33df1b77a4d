"""Password hashing with Argon2id."""
from __future__ import annotations

import unicodedata

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from chalicelib.errors import InvalidRequest

# OWASP Password Storage Cheat Sheet minimum for Argon2id: 19 MiB, 2 iterations, 1 lane.
HASHER = argon2.PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, type=argon2.Type.ID)

MIN_PASSWORD_LENGTH = 8  # characters
MAX_PASSWORD_BYTES = 1024  # UTF-8; longer passwords are rejected before any hashing

# The hash of a random password that was thrown away, with HASHER's parameters. Login
# verifies against it when the username is unknown, so that an unknown user costs the
# same time as a wrong password. A test checks that its parameters still match HASHER.
DUMMY_HASH = "$argon2id$v=19$m=19456,t=2,p=1$5a2S07SY+Yr+tb3MC6oLtQ$scgLbNmFpul2S0fYbRJrO9wtdlwwCfTkFn9PXpNqqQE"


def normalise_password(password: str) -> str:
    """Return `password` in NFKC form, or raise `InvalidRequest` when it is over the size limit.

    Register and login both pass through here, so a password typed with composed or
    decomposed accents, or full-width digits, matches itself. Checked before any
    hashing: Argon2 hashes the whole input, with no silent truncation, and the limit
    bounds that work.
    """
    normalised = unicodedata.normalize("NFKC", password)
    if len(normalised.encode("utf-8", "surrogatepass")) > MAX_PASSWORD_BYTES:
        raise InvalidRequest(f"The password is longer than {MAX_PASSWORD_BYTES} bytes")
    return normalised


def hash_password(password: str) -> str:
    """Return the Argon2id hash of `password` in PHC string format."""
    return HASHER.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """Check `password` against `stored_hash` in constant time for its parameters."""
    try:
        return HASHER.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def burn_verification(password: str) -> None:
    """Spend the time of one verification, for logins of unknown users."""
    verify_password(DUMMY_HASH, password)
