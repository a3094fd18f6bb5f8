"""Safe image opening: path checks, decompression-bomb limit, mode conversion to 8-bit RGB.

`Image.MAX_IMAGE_PIXELS` is never raised or disabled: PIL raises `DecompressionBombError` above
2× the limit and warns above 1×; both are errors here (the warning is turned into one).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path, PureWindowsPath
from typing import Any

import numpy as np
from PIL import Image

from ecl.data.errors import DataError

__all__ = [
    "IMAGE_EXTENSIONS",
    "is_image_name",
    "resolve_inside",
    "to_rgb",
    "verify_image",
    "decode_image",
    "open_image",
    "load_rgb",
]

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"}
)


def is_image_name(name: str) -> bool:
    """A visible file whose extension is one of `IMAGE_EXTENSIONS` (case-insensitive)."""
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def resolve_inside(root: Path, relative: str, where: str) -> Path:
    """`root/relative` resolved; DataError (naming `where`) if absolute or outside `root`.

    `root` must already be resolved. Symlinks are followed, so a link pointing out of the root is
    refused like a `..` path.
    """
    text = relative.strip()
    if not text:
        raise DataError(f"{where}: empty image path")
    if "\x00" in text:
        raise DataError(f"{where}: image path {relative!r} contains a NUL byte")
    if os.path.isabs(text) or PureWindowsPath(text).drive or text.startswith(("\\", "~")):
        raise DataError(f"{where}: image path {relative!r} is absolute; paths must be relative to data.root")
    full = (root / text).resolve()
    if not full.is_relative_to(root):
        raise DataError(f"{where}: image path {relative!r} escapes data.root ({root}) → {full}")
    return full


def _check_pixels(img: Image.Image, path: Path | str) -> None:
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and img.width * img.height > limit:
        raise DataError(
            f"{path}: image has {img.width}×{img.height} = {img.width * img.height} pixels, "
            f"more than Image.MAX_IMAGE_PIXELS ({limit}): possible decompression bomb"
        )


TRANSPARENT_BACKGROUND = (255, 255, 255)  # semi-transparent pixels are composited on white


def to_rgb(img: Image.Image) -> Image.Image:
    """8-bit RGB copy of any PIL mode: 16/32-bit integer and float grey are rescaled, not clipped."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode.startswith("I;16") or mode in ("I", "F"):
        arr = np.asarray(img)
        if mode.startswith("I;16"):
            arr8 = (arr.astype(np.float64) / 257.0).round()
        elif mode == "I":  # 32-bit ints: 16-bit PNGs load as "I"; scale by the 16-bit range
            arr8 = (np.clip(arr, 0, 65535).astype(np.float64) / 257.0).round()
        else:  # float: assume [0, 1] if it fits, else [0, 255]
            arr = np.nan_to_num(arr.astype(np.float64))
            arr8 = arr * 255.0 if arr.size and arr.max() <= 1.0 else arr
        grey = Image.fromarray(np.clip(arr8, 0, 255).astype(np.uint8), mode="L")
        return grey.convert("RGB")
    if mode == "P":
        img = img.convert("RGBA")  # palette transparency → alpha, then dropped
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")  # composited on white: the page a transparent drawing/icon is shown on
        background = Image.new("RGB", rgba.size, TRANSPARENT_BACKGROUND)
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img.convert("RGB")


def open_image(path: Any) -> Image.Image:
    """Image.open (lazy: header only) of a path or file object, with the decompression-bomb
    warning as an error and the pixel limit checked; the caller closes it."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        img = Image.open(path)
    _check_pixels(img, path)
    return img


def _fail(path: Path | str, exc: BaseException, where: str | None, what: str) -> DataError:
    if isinstance(exc, DataError):
        message = str(exc)
    else:
        message = f"{path}: {what} ({type(exc).__name__}: {exc})"
    return DataError(f"{message} [{where}]" if where else message)


def verify_image(path: Path | str, where: str | None = None) -> None:
    """Cheap header check (PIL `verify`) + pixel limit; DataError naming the file (and `where`)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with open_image(path) as img:
                img.verify()
    except Exception as exc:  # PIL raises many types (OSError, SyntaxError, ValueError, ...)
        raise _fail(path, exc, where, "not a readable image") from None


def decode_image(path: Path | str, where: str | None = None, target: int | None = None) -> Image.Image:
    """Fully decode an image into 8-bit RGB; DataError naming the file (and `where`) on failure.

    `target`: the side the image will be resized to. A JPEG more than twice that is decoded at
    a reduced scale (Pillow's `draft`: DCT scaling by 1/2, 1/4 or 1/8) whose both sides stay
    ≥ 2·`target` (Pillow's own `reducing_gap` of 2 for thumbnails): a later antialiased
    Resize(target) then differs from full decode + resize by about one 8-bit level, where
    drafting down to `target` itself (DCT block averages) differs by ~10.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with open_image(path) as img:
                if target is not None and img.format == "JPEG" and min(img.size) >= 4 * target:
                    img.draft("RGB", (2 * int(target), 2 * int(target)))
                img.load()
                return to_rgb(img).copy() if img.mode == "RGB" else to_rgb(img)
    except Exception as exc:
        raise _fail(path, exc, where, "cannot decode image") from None


load_rgb = decode_image
