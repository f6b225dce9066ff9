"""QR images for merchants: the static UPI sticker and dynamic-link QRs (segno).

The static QR is an ordinary UPI intent (``upi://pay?pa=…&pn=…&cu=INR``),
so any UPI app can pay it too; the sticker adds the shop name and VPA in
text under it. SVG output is self-contained and prints sharply at any
size; PNG is the bare code for chat apps.
"""

from __future__ import annotations

import io
from html import escape
from urllib.parse import quote

import segno


def upi_uri(
    vpa: str, name: str, *, amount_paise: int | None = None, note: str | None = None
) -> str:
    """A UPI intent URI (NPCI linking spec): payee, name, optional amount and note."""
    parts = [f"pa={quote(vpa, safe='@.')}", f"pn={quote(name, safe='')}"]
    if amount_paise is not None:
        parts.append(f"am={amount_paise // 100}.{amount_paise % 100:02d}")
    parts.append("cu=INR")
    if note:
        parts.append(f"tn={quote(note, safe='')}")
    return "upi://pay?" + "&".join(parts)


def qr_svg(data: str, *, scale: int = 8, border: int = 4) -> str:
    """A standalone SVG document of ``data``'s QR code (error correction M)."""
    buffer = io.BytesIO()
    segno.make(data, error="m", micro=False).save(
        buffer, kind="svg", scale=scale, border=border, xmldecl=False, title="QR code"
    )
    return buffer.getvalue().decode()


def qr_png(data: str, *, scale: int = 10, border: int = 4) -> bytes:
    buffer = io.BytesIO()
    segno.make(data, error="m", micro=False).save(buffer, kind="png", scale=scale, border=border)
    return buffer.getvalue()


def sticker_svg(display_name: str, vpa: str, uri: str) -> str:
    """A printable sticker: heading, the QR, the shop name and VPA (A6-ish, 105×148 mm)."""
    code = segno.make(uri, error="m", micro=False)
    modules = code.symbol_size(scale=1, border=2)[0]
    scale = max(3, 370 // modules)  # long URIs make denser codes: keep the sticker's size
    inner = code.svg_inline(scale=scale, border=2, omitsize=False)
    size = code.symbol_size(scale=scale, border=2)[0]
    width, height = 420, 592
    x = (width - size) // 2
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="105mm" height="148mm" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="UPI QR for {escape(display_name)}">'
        f'<rect width="{width}" height="{height}" rx="18" fill="#fff" stroke="#0a7d4f" '
        'stroke-width="6"/>'
        f'<text x="{width // 2}" y="56" text-anchor="middle" font-family="sans-serif" '
        'font-size="26" font-weight="700" fill="#0a7d4f">Scan &amp; pay with any UPI app</text>'
        f'<g transform="translate({x},80)">{inner}</g>'
        f'<text x="{width // 2}" y="{100 + size + 20}" text-anchor="middle" '
        f'font-family="sans-serif" font-size="28" font-weight="700">{escape(display_name)}</text>'
        f'<text x="{width // 2}" y="{100 + size + 58}" text-anchor="middle" '
        f'font-family="monospace" font-size="20">{escape(vpa)}</text>'
        f'<text x="{width // 2}" y="{height - 24}" text-anchor="middle" font-family="sans-serif" '
        'font-size="14" fill="#666">Crypto accepted via TaskForce Wallet</text>'
        "</svg>"
    )
