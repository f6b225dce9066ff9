"""Sanctions screening of counterparty crypto addresses and payee VPAs.

**The list file** is CSV, UTF-8, with this exact header row::

    type,chain,value,source,listed_at,note

- ``type``: ``address`` (a crypto address) or ``vpa`` (a UPI id).
- ``chain``: ``ethereum``, ``solana``, ``bitcoin`` or ``dogecoin`` for an
  address; blank means "this address on any chain". Always blank for a VPA.
- ``value``: the address or VPA as published (any case).
- ``source``: who listed it, e.g. ``OFAC SDN`` or ``FIU-IND``. Required.
- ``listed_at``: ``YYYY-MM-DD`` or blank.
- ``note``: free text or blank.

Blank lines and lines whose first cell starts with ``#`` are skipped. One
bad row rejects the whole file (:class:`SanctionsListInvalid`, naming the
line) and nothing is loaded. A sample with fake entries ships as
``wallet/compliance/data/sanctions_sample.csv``.

**Normalisation** happens before storing and before matching, so one
address matches however it is written: Ethereum addresses are
case-insensitive (EIP-55 checksums are only case, so they are compared in
lower case); bech32 Bitcoin addresses are lower-cased (bech32 is
single-case); base58 addresses (Bitcoin legacy, Dogecoin, Solana) are
case-sensitive and kept as they are; VPAs are lower-cased.

:func:`refresh_sanctions_list` makes the table equal to a file (the Dagster
asset calls it on a schedule): idempotent, it reports what it added and
removed; delisted rows keep their history (``removed_at``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path

from sqlalchemy import Select, bindparam, or_, select
from sqlalchemy.orm import Session

from wallet.audit import record
from wallet.compliance.errors import SanctionsListInvalid
from wallet.compliance.models import SanctionsEntry
from wallet.db.base import utcnow
from wallet.upi import UpiError, validate_vpa

HEADER = ("type", "chain", "value", "source", "listed_at", "note")
KINDS = ("address", "vpa")
CHAINS = ("ethereum", "solana", "bitcoin", "dogecoin")
SAMPLE_PATH = Path(__file__).parent / "data" / "sanctions_sample.csv"

_EVM = re.compile(r"0x[0-9a-fA-F]{40}")
# Segwit HRPs of Bitcoin mainnet, testnet and regtest, then the bech32 alphabet.
_BECH32 = re.compile(r"(bc|tb|bcrt)1[02-9ac-hj-np-z]{6,87}", re.IGNORECASE)
_BASE58 = re.compile(r"[1-9A-HJ-NP-Za-km-z]{25,64}")


@dataclass(frozen=True)
class ListedEntry:
    """One row of a sanctions file, already normalised."""

    kind: str
    chain: str
    value: str
    source: str
    listed_at: date | None
    note: str | None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.chain, self.value)


@dataclass(frozen=True)
class SanctionsHit:
    """A screened value that is on the list."""

    entry_id: int
    kind: str
    chain: str
    value: str
    source: str


@dataclass(frozen=True)
class RefreshReport:
    """What a refresh changed; all zeros when the file was already loaded."""

    added: int
    removed: int
    updated: int
    unchanged: int
    active: int
    sha256: str


def normalise_address(chain: str | None, address: str) -> str:
    """The form an address is stored and matched in (see the module docstring)."""
    value = address.strip()
    if chain == "ethereum" or _EVM.fullmatch(value):
        return value.lower()
    if chain in (None, "", "bitcoin") and _BECH32.fullmatch(value):
        return value.lower()
    return value


def normalise_vpa(vpa: str) -> str:
    return vpa.strip().lower()


def _check_address(chain: str, value: str) -> str | None:
    """Why ``value`` cannot be an address on ``chain`` (shape only), or None."""
    if chain == "ethereum":
        return None if _EVM.fullmatch(value) else "not an Ethereum address (0x + 40 hex)"
    if chain == "bitcoin":
        ok = _BECH32.fullmatch(value) or _BASE58.fullmatch(value)
        return None if ok else "not a Bitcoin address"
    if chain in ("solana", "dogecoin"):
        return None if _BASE58.fullmatch(value) else f"not a base58 {chain} address"
    ok = _EVM.fullmatch(value) or _BECH32.fullmatch(value) or _BASE58.fullmatch(value)
    return None if ok else "not a recognisable crypto address"


def _parse_row(cells: list[str], line: int) -> ListedEntry:
    def bad(why: str) -> SanctionsListInvalid:
        return SanctionsListInvalid(f"sanctions list line {line}: {why}")

    if len(cells) != len(HEADER):
        raise bad(f"expected {len(HEADER)} columns, found {len(cells)}")
    kind, chain, value, source, listed, note = (c.strip() for c in cells)
    kind, chain = kind.lower(), chain.lower()
    if kind not in KINDS:
        raise bad(f"type must be one of {', '.join(KINDS)}")
    if not value:
        raise bad("value is empty")
    if not source:
        raise bad("source is empty")
    listed_at = None
    if listed:
        try:
            listed_at = date.fromisoformat(listed)
        except ValueError:
            raise bad("listed_at must be YYYY-MM-DD") from None
    if kind == "vpa":
        if chain:
            raise bad("a VPA has no chain")
        try:
            value = validate_vpa(value)
        except UpiError:
            raise bad("not a VPA of the form name@bank") from None
    else:
        if chain and chain not in CHAINS:
            raise bad(f"chain must be blank or one of {', '.join(CHAINS)}")
        why = _check_address(chain, value)
        if why:
            raise bad(why)
        value = normalise_address(chain, value)
    return ListedEntry(kind, chain, value, source, listed_at, note or None)


def parse_sanctions_csv(text: str) -> list[ListedEntry]:
    """Every entry of a sanctions file (duplicates collapse to the first)."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or tuple(h.strip().lower() for h in header) != HEADER:
        raise SanctionsListInvalid(f"the header row must be: {','.join(HEADER)}")
    entries: dict[tuple[str, str, str], ListedEntry] = {}
    for cells in reader:
        if not any(c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
            continue
        entry = _parse_row(cells, reader.line_num)
        entries.setdefault(entry.key, entry)
    return list(entries.values())


def refresh_sanctions_list(
    session: Session,
    path: str | Path,
    *,
    now: datetime | None = None,
    allow_empty: bool = False,
) -> RefreshReport:
    """Make the active sanctions entries equal to the file at ``path``.

    Runs in the caller's transaction; a malformed file changes nothing.
    An empty file is refused unless ``allow_empty`` (a truncated download
    must not delist everyone).
    """
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SanctionsListInvalid("the sanctions list is not UTF-8") from None
    listed = parse_sanctions_csv(text)
    if not listed and not allow_empty:
        raise SanctionsListInvalid("the sanctions list is empty; refusing to delist everything")
    at = now or utcnow()
    digest = hashlib.sha256(raw).hexdigest()
    current = {(r.kind, r.chain, r.value): r for r in session.scalars(select(SanctionsEntry))}
    added = updated = unchanged = removed = 0
    wanted = set()
    for entry in listed:
        wanted.add(entry.key)
        row = current.get(entry.key)
        if row is None:
            session.add(
                SanctionsEntry(
                    kind=entry.kind,
                    chain=entry.chain,
                    value=entry.value,
                    source=entry.source,
                    listed_at=entry.listed_at,
                    note=entry.note,
                    added_at=at,
                )
            )
            added += 1
        elif row.removed_at is not None:
            row.removed_at = None
            row.added_at = at
            row.source, row.listed_at, row.note = entry.source, entry.listed_at, entry.note
            added += 1
        elif (row.source, row.listed_at, row.note) != (entry.source, entry.listed_at, entry.note):
            row.source, row.listed_at, row.note = entry.source, entry.listed_at, entry.note
            updated += 1
        else:
            unchanged += 1
    for key, row in current.items():
        if key not in wanted and row.removed_at is None:
            row.removed_at = at
            removed += 1
    session.flush()
    report = RefreshReport(added, removed, updated, unchanged, len(listed), digest)
    if added or removed or updated:
        record(
            session,
            actor="system:sanctions",
            action="sanctions.refresh",
            subject_type="sanctions_list",
            subject_id=digest[:16],
            data={"added": added, "removed": removed, "updated": updated, "active": len(listed)},
        )
    return report


def _hits(rows: Iterable[SanctionsEntry]) -> list[SanctionsHit]:
    return [SanctionsHit(r.id, r.kind, r.chain, r.value, r.source) for r in rows]


def screen_address(session: Session, chain: str, address: str) -> list[SanctionsHit]:
    """Active list entries matching ``address`` on ``chain`` (or on any chain)."""
    value = normalise_address(chain, address)
    rows = session.scalars(
        select(SanctionsEntry).where(
            SanctionsEntry.kind == "address",
            SanctionsEntry.value == value,
            or_(SanctionsEntry.chain == chain, SanctionsEntry.chain == ""),
            SanctionsEntry.removed_at.is_(None),
        )
    )
    return _hits(rows)


def screen_vpa(session: Session, vpa: str) -> list[SanctionsHit]:
    """Active list entries matching the VPA ``vpa`` (case-insensitive)."""
    return _hits(session.scalars(_vpa_entries(), {"value": normalise_vpa(vpa)}))


@cache
def _vpa_entries() -> Select[SanctionsEntry]:
    """Built once: every payment screens its payee."""
    return select(SanctionsEntry).where(
        SanctionsEntry.kind == "vpa",
        SanctionsEntry.value == bindparam("value"),
        SanctionsEntry.removed_at.is_(None),
    )


def screen_counterparties(
    session: Session, *, vpas: Sequence[str] = (), addresses: Sequence[tuple[str, str]] = ()
) -> list[SanctionsHit]:
    """Every hit among payee VPAs and ``(chain, address)`` pairs."""
    hits: list[SanctionsHit] = []
    for vpa in vpas:
        hits.extend(screen_vpa(session, vpa))
    for chain, address in addresses:
        hits.extend(screen_address(session, chain, address))
    return hits
