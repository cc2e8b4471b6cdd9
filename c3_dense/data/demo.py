"""The embedded demo data set: handwritten digits on photographs, made offline and
deterministically from real material that ships with installed packages (scikit-learn's
1,797 handwritten digits, scikit-image's photographs).

Written the way users' data look:

    <root>/VOC/JPEGImages/<id>.jpg                Pascal VOC layout (detection + segmentation)
    <root>/VOC/Annotations/<id>.xml
    <root>/VOC/ImageSets/Main/{train,test}.txt
    <root>/VOC/SegmentationClass/<id>.png         palette PNG: 0 background, k+1 class k,
    <root>/VOC/ImageSets/Segmentation/{train,test}.txt         255 ignore (stroke borders)
    <root>/annotations/instances_{train,test}.json COCO JSON over the same images

The root is ``$DETECTRON2_DATASETS/c3_demo`` (``datasets/c3_demo`` by default).
"""
from __future__ import annotations

import json
import os
import warnings
from typing import Callable, Dict, List, Optional, Tuple
from xml.etree import ElementTree as ET

import numpy as np

from c3_dense.progress import counted

DEMO_CLASSES: Tuple[str, ...] = ("zero", "one", "two", "three")
DEMO_IMAGE_SIZE = 128
DEMO_SPLITS = {"train": 320, "test": 80}
_BACKGROUNDS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field",
                "immunohistochemistry", "camera", "brick", "grass", "gravel", "coins", "moon",
                "clock", "horse")
_VERSION = 2  # bump when the generator changes, so stale folders are rebuilt


def demo_root(base: Optional[str] = None) -> str:
    """Where the demo data live: ``<base or $DETECTRON2_DATASETS or datasets>/c3_demo``."""
    base = base or os.environ.get("DETECTRON2_DATASETS", "datasets")
    return os.path.join(base, "c3_demo")


def voc_palette() -> List[int]:
    """The Pascal VOC colour map (bit-interleaved), as a flat 768-long PIL palette."""
    palette = []
    for label in range(256):
        r = g = b = 0
        c = label
        for shift in range(7, -1, -1):
            r |= (c & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        palette += [r, g, b]
    return palette


def _load_material():
    from skimage import data as skdata
    from sklearn.datasets import load_digits

    digits = load_digits()
    keep = digits.target < len(DEMO_CLASSES)
    backgrounds = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in _BACKGROUNDS:
            img = np.asarray(getattr(skdata, name)())
            if img.ndim == 2:
                img = np.repeat(img[..., None], 3, axis=2)
            backgrounds.append(img[..., :3].astype(np.uint8))
    return digits.images[keep], digits.target[keep], backgrounds


def _resize(array: np.ndarray, size: Tuple[int, int], resample) -> np.ndarray:
    from PIL import Image
    return np.asarray(Image.fromarray(array).resize((size[1], size[0]), resample))


def _make_image(rng: np.random.Generator, digits, labels, backgrounds):
    """One image: a photo crop with 1-3 digits pasted; returns image, boxes, labels, mask."""
    from PIL import Image

    size = DEMO_IMAGE_SIZE
    bg = backgrounds[rng.integers(len(backgrounds))]
    crop = int(rng.integers(min(bg.shape[:2]) // 3, min(bg.shape[:2]) + 1))
    y0 = int(rng.integers(0, bg.shape[0] - crop + 1))
    x0 = int(rng.integers(0, bg.shape[1] - crop + 1))
    image = _resize(np.ascontiguousarray(bg[y0:y0 + crop, x0:x0 + crop]), (size, size),
                    Image.BILINEAR).astype(np.float32)
    seg = np.zeros((size, size), np.uint8)
    boxes, classes, taken = [], [], np.zeros((size, size), bool)
    for _ in range(int(rng.integers(1, 4))):
        k = int(rng.integers(len(digits)))
        side = int(rng.integers(28, 49))
        alpha = _resize((digits[k] / 16.0 * 255).astype(np.uint8), (side, side),
                        Image.BILINEAR).astype(np.float32) / 255.0
        for _attempt in range(20):
            top, left = (int(v) for v in rng.integers(0, size - side + 1, size=2))
            if not taken[top:top + side, left:left + side].any():
                break
        else:
            continue
        ys, xs = np.nonzero(alpha > 0.2)
        if len(ys) == 0:
            continue
        taken[top:top + side, left:left + side] = True
        region = image[top:top + side, left:left + side]
        # Contrast with what lies beneath: bright strokes on dark ground, dark on bright.
        bright = region.mean() < 110
        colour = rng.integers(190, 256, 3) if bright else rng.integers(0, 50, 3)
        colour = colour.astype(np.float32)
        region[:] = region * (1 - alpha[..., None]) + colour * alpha[..., None]
        patch = seg[top:top + side, left:left + side]
        patch[(alpha > 0.2) & (alpha <= 0.5)] = 255
        patch[alpha > 0.5] = labels[k] + 1
        boxes.append([left + int(xs.min()), top + int(ys.min()),
                      left + int(xs.max()) + 1, top + int(ys.max()) + 1])
        classes.append(int(labels[k]))
    return image.clip(0, 255).astype(np.uint8), boxes, classes, seg


def _voc_xml(image_id: str, boxes, classes) -> bytes:
    root = ET.Element("annotation")
    ET.SubElement(root, "filename").text = f"{image_id}.jpg"
    size = ET.SubElement(root, "size")
    for tag, value in (("width", DEMO_IMAGE_SIZE), ("height", DEMO_IMAGE_SIZE), ("depth", 3)):
        ET.SubElement(size, tag).text = str(value)
    for box, cls in zip(boxes, classes):
        obj = ET.SubElement(root, "object")
        ET.SubElement(obj, "name").text = DEMO_CLASSES[cls]
        ET.SubElement(obj, "pose").text = "Unspecified"
        ET.SubElement(obj, "truncated").text = "0"
        ET.SubElement(obj, "difficult").text = "0"
        bnd = ET.SubElement(obj, "bndbox")
        # VOC boxes are 1-based and inclusive.
        for tag, value in zip(("xmin", "ymin", "xmax", "ymax"),
                              (box[0] + 1, box[1] + 1, box[2], box[3])):
            ET.SubElement(bnd, tag).text = str(value)
    return ET.tostring(root)


def _demo_files_present(root: str, splits: Dict[str, int]) -> bool:
    """Whether every image, label map and annotation of a stamped demo folder is still there
    (a stamp survives a user deleting images by hand)."""
    voc = os.path.join(root, "VOC")
    folders = {"JPEGImages": ".jpg", "SegmentationClass": ".png", "Annotations": ".xml"}
    for folder, suffix in folders.items():
        try:
            present = set(os.listdir(os.path.join(voc, folder)))
        except OSError:
            return False
        if any(f"{split}_{i:05d}{suffix}" not in present
               for split, count in splits.items() for i in range(count)):
            return False
    return all(os.path.isfile(os.path.join(root, "annotations", f"instances_{split}.json"))
               for split in splits)


def make_demo_dataset(root: Optional[str] = None, splits: Optional[Dict[str, int]] = None,
                      seed: int = 0, force: bool = False,
                      progress: Optional[Callable[[str], None]] = None) -> str:
    """Write the demo data set under ``root`` (default :func:`demo_root`) and return the root.

    Deterministic for a given seed; skipped when a complete copy of this version is there.
    ``progress``: where lines with the images written and the time left go, if anywhere.
    """
    from PIL import Image

    root = root or demo_root()
    splits = dict(splits or DEMO_SPLITS)
    stamp = os.path.join(root, "COMPLETE")
    signature = json.dumps({"version": _VERSION, "splits": splits, "seed": seed}, sort_keys=True)
    if not force and os.path.exists(stamp) and open(stamp).read() == signature:
        if _demo_files_present(root, splits):
            return root
        print(f"demo data in {root}: files listed by its stamp are missing; writing them again",
              flush=True)
    voc = os.path.join(root, "VOC")
    for sub in ("JPEGImages", "Annotations", "ImageSets/Main", "ImageSets/Segmentation",
                "SegmentationClass"):
        os.makedirs(os.path.join(voc, sub), exist_ok=True)
    os.makedirs(os.path.join(root, "annotations"), exist_ok=True)
    digits, labels, backgrounds = _load_material()
    palette = voc_palette()
    categories = [{"id": i + 1, "name": n} for i, n in enumerate(DEMO_CLASSES)]
    for split_index, (split, count) in enumerate(sorted(splits.items())):
        rng = np.random.default_rng([seed, split_index])
        ids, images, annotations = [], [], []
        numbers = range(count) if progress is None else counted(
            range(count), f"demo data, {split} images", write=progress)
        for i in numbers:
            image_id = f"{split}_{i:05d}"
            image, boxes, classes, seg = _make_image(rng, digits, labels, backgrounds)
            Image.fromarray(image).save(os.path.join(voc, "JPEGImages", f"{image_id}.jpg"),
                                        quality=95)
            label = Image.fromarray(seg).convert("P")
            label.putpalette(palette)
            label.save(os.path.join(voc, "SegmentationClass", f"{image_id}.png"))
            with open(os.path.join(voc, "Annotations", f"{image_id}.xml"), "wb") as f:
                f.write(_voc_xml(image_id, boxes, classes))
            ids.append(image_id)
            images.append({"id": i + 1, "file_name": f"{image_id}.jpg",
                           "width": DEMO_IMAGE_SIZE, "height": DEMO_IMAGE_SIZE})
            for box, cls in zip(boxes, classes):
                w, h = box[2] - box[0], box[3] - box[1]
                annotations.append({"id": len(annotations) + 1, "image_id": i + 1,
                                    "category_id": cls + 1, "bbox": [box[0], box[1], w, h],
                                    "area": w * h, "iscrowd": 0})
        for sub in ("Main", "Segmentation"):
            with open(os.path.join(voc, "ImageSets", sub, f"{split}.txt"), "w") as f:
                f.write("\n".join(ids) + "\n")
        with open(os.path.join(root, "annotations", f"instances_{split}.json"), "w") as f:
            json.dump({"images": images, "annotations": annotations,
                       "categories": categories}, f)
    with open(stamp, "w") as f:
        f.write(signature)
    return root
