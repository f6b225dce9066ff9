"""Keys the platform needs at start: the wallet master key and the session key.

In production both must come from the environment (or a KMS); in dev and
test they are generated once into ``var/`` (mode 0600) so a fresh clone
runs with no set-up. Values are never logged.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from pydantic import SecretStr

from wallet.config import Settings
from wallet.errors import ConfigurationError

MASTER_KEY_BYTES = 32


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
    try:
        key = base64.b64decode(raw, validate=True)
    except ValueError:
        raise ConfigurationError(f"{env_name} must be base64") from None
    if len(key) != MASTER_KEY_BYTES:
        raise ConfigurationError(f"{env_name} must decode to {MASTER_KEY_BYTES} bytes")
    return key


def master_key(settings: Settings) -> bytes:
    """The 32-byte key that encrypts data keys (AES-GCM key wrapping)."""
    return _resolve(settings, settings.wallet_master_key, "WALLET_MASTER_KEY", "master.key")


def session_secret(settings: Settings) -> bytes:
    """The key Flask signs session cookies with."""
    return _resolve(settings, settings.secret_key, "SECRET_KEY", "session.key")
