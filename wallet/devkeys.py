"""Keys the platform needs at start: the wallet master key and the session key.

In production both must come from the environment (or a KMS); in dev and
test they are generated once into ``var/`` (mode 0600) so a fresh clone
runs with no set-up. Values are never logged.

Every process builds its KMS with :func:`platform_kms`: the current master
key wraps, and the retired ones (``WALLET_PREVIOUS_MASTER_KEYS``, or
``var/master.previous.keys`` in dev) still unwrap whatever a rotation
(:mod:`wallet.custody.rotation`) has not re-wrapped yet.
"""

from __future__ import annotations

import base64
import fcntl
import os
import re
import secrets
from pathlib import Path

from pydantic import SecretStr

from wallet.config import Settings
from wallet.custody.kms import KeyManager, LocalKeyManager, key_fingerprint
from wallet.errors import ConfigurationError

MASTER_KEY_BYTES = 32
MASTER_KEY_FILE = "master.key"
PREVIOUS_KEYS_FILE = "master.previous.keys"  # dev: retired keys, one base64 per line


def _dev_secret(path: Path) -> bytes:
    if not path.exists():
        # Written whole to a private temp file, then linked into place: workers
        # starting together never read a half-written key, and the first wins.
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(base64.b64encode(secrets.token_bytes(MASTER_KEY_BYTES)))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process created it first; theirs is the key
        finally:
            tmp.unlink()
    return path.read_bytes().strip()


def _resolve(settings: Settings, value: SecretStr | None, env_name: str, filename: str) -> bytes:
    if value is not None:
        raw = value.get_secret_value().encode()
    elif settings.environment == "production":
        raise ConfigurationError(f"{env_name} must be set in production")
    else:
        raw = _dev_secret(settings.var_dir / filename)
    return _decode(raw, env_name)


def _decode(raw: bytes, what: str) -> bytes:
    """A base64 32-byte key; the error names ``what``, never the value."""
    try:
        key = base64.b64decode(raw, validate=True)
    except ValueError:
        raise ConfigurationError(f"{what} must be base64") from None
    if len(key) != MASTER_KEY_BYTES:
        raise ConfigurationError(f"{what} must decode to {MASTER_KEY_BYTES} bytes")
    return key


def master_key(settings: Settings) -> bytes:
    """The 32-byte key that encrypts data keys (AES-GCM key wrapping)."""
    return _resolve(settings, settings.wallet_master_key, "WALLET_MASTER_KEY", MASTER_KEY_FILE)


def previous_master_keys(settings: Settings) -> list[bytes]:
    """Retired master keys, kept to unwrap (never to wrap) until rotation is done.

    ``WALLET_PREVIOUS_MASTER_KEYS`` (comma-separated base64) when set; else,
    outside production, ``var/master.previous.keys``; else none.
    """
    if settings.wallet_previous_master_keys is not None:
        text = settings.wallet_previous_master_keys.get_secret_value()
        source = "WALLET_PREVIOUS_MASTER_KEYS"
    elif settings.environment != "production":
        path = settings.var_dir / PREVIOUS_KEYS_FILE
        if not path.is_file():
            return []
        text = path.read_text()
        source = PREVIOUS_KEYS_FILE
    else:
        return []
    entries = [e for e in re.split(r"[,\s]+", text) if e]
    return [_decode(e.encode(), f"{source} entry {n}") for n, e in enumerate(entries, 1)]


def platform_kms(settings: Settings) -> KeyManager:
    """The KMS every process uses: wraps under the current key, unwraps under any configured."""
    return LocalKeyManager(master_key(settings), previous=previous_master_keys(settings))


def _replace_private(path: Path, content: bytes) -> None:
    """Write ``content`` to a 0600 temp file, fsync it, then rename it over ``path``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a power cut
    finally:
        os.close(dir_fd)


def generate_dev_master_key(settings: Settings) -> tuple[str, str]:
    """Dev only: retire ``var/master.key`` and write a new one; (old id, new id).

    The old key is appended to ``var/master.previous.keys`` before the new
    key replaces ``master.key`` (each file written whole, then renamed into
    place, mode 0600), so at every instant, even after a crash between the
    two steps, every process can still unwrap everything. A lock file keeps
    two concurrent runs from losing a key. Re-wrapping is the caller's next
    step (:func:`wallet.custody.rotation.rotate_all`).
    """
    if settings.environment == "production" or settings.wallet_master_key is not None:
        raise ConfigurationError(
            "generating a master key is for dev keys under VAR_DIR; with WALLET_MASTER_KEY "
            "set, put the new key there and the old ones in WALLET_PREVIOUS_MASTER_KEYS"
        )
    if settings.wallet_previous_master_keys is not None:
        raise ConfigurationError(
            f"WALLET_PREVIOUS_MASTER_KEYS is set: dev rotation keeps retired keys in "
            f"{PREVIOUS_KEYS_FILE}; unset it first"
        )
    var_dir = settings.var_dir
    var_dir.mkdir(parents=True, exist_ok=True)
    lock_fd = os.open(var_dir / ".master.key.lock", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        old = master_key(settings)  # generated first on a fresh tree: then it is retired at once
        retired = previous_master_keys(settings)
        if old not in retired:
            lines = [base64.b64encode(k) for k in (*retired, old)]
            _replace_private(var_dir / PREVIOUS_KEYS_FILE, b"\n".join(lines) + b"\n")
        new = secrets.token_bytes(MASTER_KEY_BYTES)
        _replace_private(var_dir / MASTER_KEY_FILE, base64.b64encode(new))
    finally:
        os.close(lock_fd)  # closing releases the lock
    return key_fingerprint(old), key_fingerprint(new)


def session_secret(settings: Settings) -> bytes:
    """The key Flask signs session cookies with."""
    return _resolve(settings, settings.secret_key, "SECRET_KEY", "session.key")
