"""Checks every OCR adapter runs on an image file before reading it (Pillow)."""

from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from receipts.application.ports.ocr_engine import OCRFailed

MAX_PIXELS = 60_000_000
"""Larger images are refused before decoding: a receipt photo is a few megapixels."""


def checked_image(path: Path, max_pixels: int = MAX_PIXELS) -> tuple[int, int, str]:
    """(width, height, format) of a readable image; OCRFailed names the file and why."""
    if not path.exists():
        raise OCRFailed(path, "no such file")
    if not path.is_file():
        raise OCRFailed(path, "not a regular file")
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb warning; our limit below is the one that decides
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # open() reads only the header, so the size check happens before any decoding
            with Image.open(path) as image:
                width, height = image.size
                image_format = image.format or "unknown"
                if width * height > max_pixels:
                    raise OCRFailed(
                        path,
                        f"image is {width}x{height} = {width * height / 1e6:.1f} megapixels,"
                        f" over the limit of {max_pixels / 1e6:g} (refused as a possible"
                        " decompression bomb; downscale it first)",
                    )
                image.verify()
    except OCRFailed:
        raise
    except Image.DecompressionBombError as error:
        raise OCRFailed(path, f"refused as a decompression bomb: {error}") from error
    except UnidentifiedImageError as error:
        raise OCRFailed(
            path, "not an image Pillow can read (corrupt or another file type)"
        ) from error
    except (OSError, SyntaxError, ValueError) as error:
        # verify() reports truncated or damaged data as OSError or SyntaxError
        raise OCRFailed(path, f"corrupt image: {error}") from error
    if width <= 0 or height <= 0:
        raise OCRFailed(path, f"image has no pixels ({width}x{height})")
    return width, height, image_format
