"""The secret scanner catches every encoding it claims to (so the e2e scan can fail)."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path
from urllib.parse import quote, quote_plus, urlencode

import pytest

from tests.security_scan import Finding, Phrase, Scanner, Secret

SECRET = "s3cr€t pass/word+with=odd&chars~~?>>"
KEY = bytes(range(7, 39))  # 32 bytes of raw key material
WORDS = tuple(
    [
        "abandon",
        "ability",
        "able",
        "about",
        "above",
        "absent",
        "absorb",
        "abstract",
        "absurd",
        "abuse",
        "access",
        "accident",
        "account",
        "accuse",
        "achieve",
        "acid",
        "acoustic",
        "acquire",
        "across",
        "act",
        "action",
        "actor",
        "actress",
        "actual",
    ]
)
NOISE = "INFO 2026-01-01 worker started; request GET /healthz 200 in 3 ms; all quiet. " * 20


def _scan(text: str | bytes, *secrets: Secret | Phrase) -> list[Finding]:
    blob = text.encode() if isinstance(text, str) else text
    return Scanner(secrets or (Secret("pw", SECRET), Secret("key", KEY))).scan_bytes(blob, "t")


def _only(findings: list[Finding]) -> tuple[str, str]:
    assert findings, "the scanner missed it"
    return findings[0].secret, findings[0].encoding


def test_clean_text_has_no_findings() -> None:
    assert _scan(NOISE) == []
    assert _scan(NOISE, Phrase("mnemonic", WORDS)) == []


@pytest.mark.parametrize(
    ("encoded", "encoding"),
    [
        (SECRET, "raw"),
        (json.dumps({"password": SECRET}), "json"),
        (quote(SECRET, safe=""), "url"),
        (urlencode({"q": SECRET}), "url"),
        (quote_plus(SECRET), "url"),
        (SECRET.encode().hex(), "hex"),
        (SECRET.encode().hex().upper(), "hex"),
        (base64.b64encode(SECRET.encode()).decode(), "base64"),
        (base64.urlsafe_b64encode(SECRET.encode()).decode(), "base64url"),
    ],
)
def test_each_encoding_of_a_text_secret_is_found(encoded: str, encoding: str) -> None:
    name, found = _only(_scan(f"{NOISE}{encoded}{NOISE}"))
    assert name == "pw" and found.split("+")[0] == encoding


@pytest.mark.parametrize("prefix", [b"", b"u", b"us", b"user:"])
def test_base64_inside_a_longer_value_is_found_at_every_alignment(prefix: bytes) -> None:
    # e.g. an Authorization: Basic header, base64("user:" + secret + "@host")
    for encode, label in ((base64.b64encode, "base64"), (base64.urlsafe_b64encode, "base64url")):
        blob = encode(prefix + SECRET.encode() + b"@host")
        name, found = _only(_scan(b"Authorization: Basic " + blob))
        assert name == "pw" and found.startswith(label)


def test_raw_key_bytes_are_found_raw_hex_and_base64() -> None:
    for encoded in (
        KEY,
        KEY.hex().encode(),
        base64.b64encode(KEY),
        base64.urlsafe_b64encode(KEY).rstrip(b"="),
    ):
        name, _ = _only(_scan(NOISE.encode() + encoded + NOISE.encode()))
        assert name == "key"


def test_a_mnemonic_is_found_as_a_run_of_words_in_any_layout() -> None:
    phrase = Phrase("mnemonic", WORDS)
    for text in (
        " ".join(WORDS),
        json.dumps(list(WORDS[5:12])),
        "+".join(WORDS[10:18]).upper(),
        quote(" ".join(WORDS[:6])),
        "words:\n" + "\n".join(WORDS[18:]),
    ):
        assert _only(_scan(NOISE + text + NOISE, phrase))[0] == "mnemonic", text
    # Fewer than the window in a row, or the words out of order, is not a leak.
    assert _scan(" ".join(WORDS[:5]) + " x " + " ".join(WORDS[5:9]), phrase) == []
    assert _scan(" ".join(reversed(WORDS)), phrase) == []


def test_a_secret_split_over_sqlite_overflow_pages_is_found_in_the_row_dump(
    tmp_path: Path,
) -> None:
    db = tmp_path / "events.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE event_logs (id INTEGER PRIMARY KEY, event TEXT)")
    # Long rows spill onto overflow pages; put the secret across many page edges.
    for pad in range(0, 4200, 97):
        conn.execute(
            "INSERT INTO event_logs (event) VALUES (?)", ("x" * pad + SECRET + "y" * 9000,)
        )
    conn.commit()
    conn.close()
    findings, scanned = Scanner([Secret("pw", SECRET)]).scan_paths([tmp_path])
    assert scanned == [db]
    assert any("[event_logs]" in f.where and f.secret == "pw" for f in findings)


def test_short_secrets_are_refused() -> None:
    with pytest.raises(ValueError, match="too short"):
        Scanner([Secret("pin", "1234")])
