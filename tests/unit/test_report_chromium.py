"""The HTML report renders in headless Chromium, charts included: a screenshot that is not blank.

Skipped only when Chromium is missing and CI is unset (`make setup` installs Debian's chromium,
so CI always runs it)."""

from __future__ import annotations

import os
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from assay.reports import report_files, write_reports
from tests.unit.report_fixtures import (
    BASELINE,
    CANDIDATE,
    TRACES,
    build_warehouse,
    case_details,
    decision,
)

CHROMIUM = os.environ.get("ASSAY_CHROMIUM", "/usr/bin/chromium")
FOREST_BLUE = (0x25, 0x63, 0xEB)  # PALETTE[0]: drawn only by the charts (intervals, first trend line)

needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"),
    reason=f"{CHROMIUM} missing (`make setup` installs it; in CI this test always runs)",
)


def decode_png(data: bytes) -> np.ndarray:
    """An 8-bit RGB/RGBA, non-interlaced PNG as a (height, width, channels) array (stdlib zlib;
    Pillow is not a dependency)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, f"unsupported PNG {header}"
    bpp = 3 if colour == 2 else 4
    stride = width * bpp
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(height, stride + 1)
    out = np.zeros((height, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.int32)
    for y in range(height):
        kind, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        if kind == 0:
            row = line
        elif kind == 1:  # Sub: a running sum per channel
            row = np.cumsum(line.reshape(width, bpp), axis=0).reshape(-1) % 256
        elif kind == 2:  # Up
            row = (line + prev) % 256
        else:  # Average / Paeth depend on the pixel to the left: byte by byte (rare rows)
            row = np.zeros(stride, dtype=np.int32)
            for i in range(stride):
                a = int(row[i - bpp]) if i >= bpp else 0
                b = int(prev[i])
                c = int(prev[i - bpp]) if i >= bpp else 0
                if kind == 3:
                    pred = (a + b) // 2
                else:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                row[i] = (int(line[i]) + pred) % 256
        out[y] = row
        prev = row.astype(np.int32)
    return out.reshape(height, width, bpp)[:, :, :3]


def has_colour(pixels: np.ndarray, rgb: tuple[int, int, int], tolerance: int = 12) -> int:
    return int((np.abs(pixels.astype(np.int32) - np.array(rgb)).max(axis=2) <= tolerance).sum())


@needs_chromium
def test_report_renders_with_its_charts(tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"CI is set but {CHROMIUM} is missing: `make setup` installs Debian's chromium")
    (tmp_path / "reports").mkdir()
    build_warehouse(tmp_path / "warehouse.duckdb")
    md = write_reports(tmp_path / "reports", decision("rejected", quality="fail", critical="fail"), CANDIDATE, BASELINE,
                       TRACES, case_details())
    html_path = report_files(md)["html"]
    page = html_path.read_text()
    assert page.count("<svg") >= 6 and "<polyline" in page
    png = tmp_path / "report.png"
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}", f"--screenshot={png}", "--window-size=1280,2000",
        f"file://{html_path}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert png.is_file() and png.stat().st_size > 0, result.stderr[-2000:]
    pixels = decode_png(png.read_bytes())
    assert pixels.shape == (2000, 1280, 3)
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(colours) > 50, "screenshot is (nearly) blank"
    # The charts were drawn, not only the text: their colour is on screen.
    assert has_colour(pixels, FOREST_BLUE) > 200


def test_png_decoder_reads_every_filter_type():
    """A 3x5 RGB image written with rows filtered None, Sub, Up, Average and Paeth."""

    width, height, bpp = 3, 5, 3
    image = np.arange(width * height * bpp, dtype=np.int32).reshape(height, width * bpp) * 7 % 256
    filtered = []
    prev = np.zeros(width * bpp, dtype=np.int32)
    for kind, row in zip(range(5), image, strict=True):
        left = np.concatenate([np.zeros(bpp, dtype=np.int32), row[:-bpp]])
        upleft = np.concatenate([np.zeros(bpp, dtype=np.int32), prev[:-bpp]])
        if kind == 0:
            pred = np.zeros_like(row)
        elif kind == 1:
            pred = left
        elif kind == 2:
            pred = prev
        elif kind == 3:
            pred = (left + prev) // 2
        else:
            pred = np.array([a if abs(a + b - c - a) <= abs(a + b - c - b) and abs(a + b - c - a) <= abs(a + b - c - c)
                             else b if abs(a + b - c - b) <= abs(a + b - c - c) else c
                             for a, b, c in zip(left, prev, upleft, strict=True)])
        filtered.append(bytes([kind]) + bytes(((row - pred) % 256).astype(np.uint8)))
        prev = row

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(b"".join(filtered))) + chunk(b"IEND", b""))
    assert np.array_equal(decode_png(png), image.reshape(height, width, bpp))
