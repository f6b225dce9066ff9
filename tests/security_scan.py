"""Find known secrets in logs and stores, in whatever encoding they were written.

A test that knows its secrets (a master key it set, passwords it typed,
tokens it was handed) builds :class:`Secret` values and scans text, files
or whole directories with :func:`scan_bytes` / :func:`scan_paths`. Each
secret is looked for as:

- ``raw`` (and ``json``-escaped, when that differs),
- ``url`` (percent-encoded, ``quote`` and ``quote_plus``),
- ``hex`` (lower and upper case),
- ``base64`` and ``base64url``, at each of the three alignments a value can
  take inside a longer encoded blob (the characters that depend only on the
  secret's own bytes), so a secret base64'd as part of ``user:secret`` is
  found too.

A :class:`Phrase` (a mnemonic) is a run of words: found when ``window``
consecutive words of it appear in order with any separators between them
(spaces, commas, quotes, ``+``, ``%20``), e.g. a JSON list of the words.

SQLite files are scanned as bytes *and* dumped row by row (a long value can
be split over overflow pages in the file, so the bytes alone can miss it).
"""

from __future__ import annotations

import base64
import json
import re
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, quote_plus

MIN_NEEDLE = 8  # shorter encoded fragments would match by chance
SQLITE_MAGIC = b"SQLite format 3\x00"


@dataclass(frozen=True)
class Secret:
    """A value that must never be written down (``bytes`` for raw key material)."""

    name: str
    value: str | bytes


@dataclass(frozen=True)
class Phrase:
    """A secret run of words (a BIP39 mnemonic): any ``window`` consecutive words leak it."""

    name: str
    words: tuple[str, ...]
    window: int = 6


@dataclass(frozen=True)
class Finding:
    secret: str
    encoding: str
    where: str
    context: str  # the surroundings, with the hit itself masked

    def __str__(self) -> str:
        return f"{self.secret} ({self.encoding}) in {self.where}: …{self.context}…"


def _b64_fragments(raw: bytes) -> Iterator[tuple[str, bytes]]:
    """The base64/base64url characters fixed by ``raw`` alone, at offsets 0, 1 and 2."""
    for shift in range(3):
        for label, encode in (
            ("base64", base64.b64encode),
            ("base64url", base64.urlsafe_b64encode),
        ):
            encoded = encode(b"\x00" * shift + raw).rstrip(b"=")
            start = -(-8 * shift // 6)  # first character wholly inside the secret's bits
            end = (8 * (shift + len(raw))) // 6  # last one (exclusive)
            if shift == 0:
                # At offset 0 the padded tail is what a lone encoding ends with.
                yield label, encode(raw).rstrip(b"=")
            fragment = encoded[start:end]
            if len(fragment) >= MIN_NEEDLE:
                yield f"{label}+{shift}", fragment


def needles(secret: Secret) -> dict[bytes, str]:
    """Every byte string that would betray ``secret``, mapped to its encoding's name."""
    raw = secret.value.encode() if isinstance(secret.value, str) else secret.value
    found: dict[bytes, str] = {}

    def add(needle: bytes, label: str) -> None:
        if len(needle) >= MIN_NEEDLE and needle not in found:
            found[needle] = label

    add(raw, "raw")
    if isinstance(secret.value, str):
        text = secret.value
        add(json.dumps(text)[1:-1].encode(), "json")
        add(json.dumps(text, ensure_ascii=False)[1:-1].encode(), "json")
        add(quote(text, safe="").encode(), "url")
        add(quote_plus(text, safe="").encode(), "url")
        add(quote(text, safe="/:").encode(), "url")
    add(raw.hex().encode(), "hex")
    add(raw.hex().upper().encode(), "hex")
    for label, fragment in _b64_fragments(raw):
        add(fragment, label)
    return found


def _phrase_patterns(phrase: Phrase) -> list[re.Pattern[bytes]]:
    sep = rb"(?:[\s,;:+_\-\"'\[\]\\]|%20|%2C|\\n)+"
    words = [w.encode() for w in phrase.words]
    window = min(phrase.window, len(words))
    patterns = []
    for i in range(len(words) - window + 1):
        run = sep.join(re.escape(w) for w in words[i : i + window])
        patterns.append(re.compile(run, re.IGNORECASE))
    return patterns


def _context(blob: bytes, start: int, end: int, width: int = 40) -> str:
    before = blob[max(0, start - width) : start].decode("utf-8", "replace")
    after = blob[end : end + width].decode("utf-8", "replace")
    return f"{before}<HIT>{after}".replace("\n", "\\n")


class Scanner:
    """Holds the secrets' needles once; scans any number of blobs."""

    def __init__(self, secrets: Iterable[Secret | Phrase]) -> None:
        self._needles: list[tuple[bytes, str, str]] = []
        self._phrases: list[tuple[re.Pattern[bytes], str]] = []
        for secret in secrets:
            if isinstance(secret, Phrase):
                self._phrases += [(p, secret.name) for p in _phrase_patterns(secret)]
                joined = Secret(secret.name, " ".join(secret.words))
                self._needles += [(n, joined.name, label) for n, label in needles(joined).items()]
            else:
                if len(secret.value) < MIN_NEEDLE:
                    raise ValueError(f"{secret.name} is too short to scan for reliably")
                self._needles += [(n, secret.name, label) for n, label in needles(secret).items()]

    def scan_bytes(self, blob: bytes, where: str) -> list[Finding]:
        findings: list[Finding] = []
        seen: set[tuple[str, str]] = set()
        for needle, name, label in self._needles:
            at = blob.find(needle)
            if at >= 0 and (name, label) not in seen:
                seen.add((name, label))
                findings.append(Finding(name, label, where, _context(blob, at, at + len(needle))))
        for pattern, name in self._phrases:
            match = pattern.search(blob)
            if match and (name, "words") not in seen:
                seen.add((name, "words"))
                findings.append(Finding(name, "words", where, _context(blob, *match.span())))
        return findings

    def scan_file(self, path: Path) -> list[Finding]:
        blob = path.read_bytes()
        findings = self.scan_bytes(blob, str(path))
        if blob.startswith(SQLITE_MAGIC):
            for table, text in sqlite_rows(path):
                findings += self.scan_bytes(text, f"{path} [{table}]")
        return findings

    def scan_paths(self, paths: Iterable[Path]) -> tuple[list[Finding], list[Path]]:
        """Scan files and (recursively) directories; also returns every file scanned."""
        findings: list[Finding] = []
        scanned: list[Path] = []
        for path in paths:
            files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
            for file in files:
                if file.exists():
                    scanned.append(file)
                    findings += self.scan_file(file)
        return findings, scanned


def sqlite_rows(path: Path) -> Iterator[tuple[str, bytes]]:
    """Every row of every table of a SQLite file, as text (blobs kept as bytes)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                parts = [v if isinstance(v, bytes) else str(v).encode() for v in row]
                yield table, b"\x1f".join(parts)
    except sqlite3.DatabaseError:
        return  # a WAL or journal file, or one being written: its bytes were scanned
    finally:
        conn.close()


def scan_paths(
    paths: Iterable[Path], secrets: Iterable[Secret | Phrase]
) -> tuple[list[Finding], list[Path]]:
    return Scanner(secrets).scan_paths(paths)
