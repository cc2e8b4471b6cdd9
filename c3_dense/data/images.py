"""Image files given on a command line: folders expanded, every file checked to be an image
before any model runs (a non-image, or a missing path, is one clear error, not a traceback
half-way through a folder)."""
from __future__ import annotations

import os
from typing import Iterable, List

import numpy as np

from c3_dense.errors import UserInputError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def find_images(inputs: Iterable[str]) -> List[str]:
    """Image paths from files and folders (a folder gives its image files, sorted, not
    recursing). Every path is checked to decode as an image."""
    paths: List[str] = []
    for item in inputs:
        if os.path.isdir(item):
            found = sorted(os.path.join(item, f) for f in os.listdir(item)
                           if f.lower().endswith(IMAGE_EXTENSIONS))
            if not found:
                raise UserInputError(f"folder {item} holds no images "
                                     f"({', '.join(IMAGE_EXTENSIONS)}); pass image files or "
                                     "a folder of them")
            paths += found
        elif os.path.isfile(item):
            paths.append(item)
        else:
            raise UserInputError(f"input {item} not found; pass image files or folders")
    for path in paths:
        check_decodes(path)
    return paths


def check_decodes(path: str) -> None:
    """``path`` decodes whole as an image, as a model's reader will read it (a truncated file
    passes a header check and fails only then); else one UserInputError."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
    except Image.DecompressionBombError:
        raise UserInputError(
            f"{path} is too large for PIL (over 2 × {Image.MAX_IMAGE_PIXELS:,} pixels, "
            "its guard against decompression bombs); downscale it first") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise UserInputError(f"{path} is not a readable image ({reason}); pass whole "
                             "image files only") from None


def read_rgb(path: str) -> np.ndarray:
    """H×W×3 uint8 RGB (EXIF orientation applied, as detectron2's reader does)."""
    from PIL import Image, ImageOps

    with Image.open(path) as image:
        return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))


def unique_stems(paths: List[str]) -> List[str]:
    """Output names for input files: the file stem, made unique when two inputs share one
    (``a/x.jpg``, ``b/x.png`` → ``x``, ``x-1``)."""
    seen, names = {}, []
    for path in paths:
        stem = os.path.splitext(os.path.basename(path))[0]
        count = seen.get(stem, 0)
        seen[stem] = count + 1
        names.append(stem if count == 0 else f"{stem}-{count}")
    return names
