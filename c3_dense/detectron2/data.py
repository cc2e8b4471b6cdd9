"""Data sets for the detectron2 side: the demo data registered like any VOC/COCO data set, and
checks that turn missing or broken data into one clear error before training starts."""
from __future__ import annotations

import json
import os
import sys
from typing import Optional
from xml.etree import ElementTree as ET

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import register_coco_instances
from detectron2.data.datasets.pascal_voc import register_pascal_voc

from c3_dense.data import DEMO_CLASSES, demo_root
from c3_dense.errors import UserInputError

DEMO_DATASETS = ("c3demo_voc_train", "c3demo_voc_test", "c3demo_coco_train", "c3demo_coco_test")
DEMO_HINT = ("make it with `python tools/make_demo_data.py` (or `make demo`); detectron2 reads "
             "it from $DETECTRON2_DATASETS/c3_demo (default datasets/c3_demo)")
_JSON_PARSE_LIMIT = 64 << 20  # parse smaller COCO files fully up front; larger: check the start


def register_demo_datasets(base: Optional[str] = None) -> str:
    """(Re-)register the demo data under ``<base or $DETECTRON2_DATASETS>/c3_demo``:
    ``c3demo_voc_{train,test}`` (Pascal VOC layout, year 2007 → 11-point AP) and
    ``c3demo_coco_{train,test}`` (COCO JSON). Returns the root."""
    root = demo_root(base)
    for name in DEMO_DATASETS:
        if name in DatasetCatalog.list():
            DatasetCatalog.remove(name)
            MetadataCatalog.remove(name)
    for split in ("train", "test"):
        register_pascal_voc(f"c3demo_voc_{split}", os.path.join(root, "VOC"), split, 2007,
                            class_names=DEMO_CLASSES)
        MetadataCatalog.get(f"c3demo_voc_{split}").evaluator_type = "pascal_voc"
        register_coco_instances(f"c3demo_coco_{split}", {},
                                os.path.join(root, "annotations", f"instances_{split}.json"),
                                os.path.join(root, "VOC", "JPEGImages"))
    return root


def _missing(name: str, path: str) -> UserInputError:
    if name.startswith("c3demo_"):
        hint = DEMO_HINT
    else:
        hint = ("put the data set there in detectron2's layout, or set DETECTRON2_DATASETS to "
                "the folder that holds it")
    return UserInputError(f"data set {name!r}: {path} does not exist; {hint}")


def _number(node, path: str):
    found = node.find(path)
    try:
        return float(found.text)
    except (AttributeError, TypeError, ValueError):
        return None


def _voc_annotation_problem(tree, classes, evaluated: bool) -> str:
    """What in one VOC XML detectron2's loader (or, for a test set, its VOC evaluator) would
    trip over, or ""."""
    if _number(tree, "size/width") is None or _number(tree, "size/height") is None:
        return "lacks a numeric size/width and size/height"
    fields = ("name", "bndbox") + (("pose", "truncated", "difficult") if evaluated else ())
    for number, obj in enumerate(tree.findall("object")):
        missing = [f for f in fields if obj.find(f) is None or (f != "bndbox" and obj.find(f).text is None)]
        if missing:
            return f"has an object (#{number}) without {', '.join(missing)}"
        if classes is not None and obj.find("name").text not in classes:
            return (f"has an object of class {obj.find('name').text!r}, which is not among the "
                    f"data set's {len(classes)} classes")
        box = [_number(obj, f"bndbox/{k}") for k in ("xmin", "ymin", "xmax", "ymax")]
        if None in box:
            return f"has an object (#{number}) whose bndbox lacks numeric xmin/ymin/xmax/ymax"
    return ""


def _overlaps_image(box, width, height) -> bool:
    """Whether an XYXY box covers some of a width × height image."""
    x0, y0, x1, y1 = box
    return x1 > max(x0, 0) and y1 > max(y0, 0) and x0 < width and y0 < height


_WARNED_OUTSIDE: set = set()


def _reaches_outside(box, width, height) -> bool:
    """Whether an XYXY box reaches beyond a width × height image (VOC's 1-based pixel
    coordinates end at the width and height themselves, so those count as inside)."""
    x0, y0, x1, y1 = box
    return x0 < 0 or y0 < 0 or x1 > width or y1 > height


def _warn_outside(name: str, outside: list, boxes: int) -> None:
    """One warning line for boxes that reach outside their image: detectron2 clips them in
    training, the evaluators score them as they are, neither says so."""
    if outside and name not in _WARNED_OUTSIDE:  # once per process (the checks run twice)
        _WARNED_OUTSIDE.add(name)
        where, box, size = outside[0]
        print(f"warning: data set {name!r}: {len(outside)} of {boxes} boxes reach outside their "
              f"image (e.g. {[round(v, 1) for v in box]} in a {size[0]}×{size[1]} image, "
              f"{where}); they are used as given - check the coordinates", file=sys.stderr)


def _no_box_inside(name: str, where: str, boxes: int) -> UserInputError:
    return UserInputError(f"data set {name!r}: none of the {boxes} boxes in {where} lies inside "
                          "its image; check the box coordinates (VOC: xmin ymin xmax ymax in "
                          "pixels; COCO: x y width height) against the image sizes")


SAMPLES_DECODED = 100  # images of an evaluated set decoded whole up front, evenly spread


def _check_image(name: str, path: str, decode: bool = False) -> None:
    """The file exists and its header is an image's (cheap: PIL reads the header only);
    ``decode``: the whole image decodes, as the model's reader will read it (a truncated
    file passes the header check)."""
    from PIL import Image

    if not os.path.isfile(path):
        raise _missing(name, path)
    try:
        with Image.open(path) as image:
            if decode:
                image.load()
    except Exception as exc:
        raise UserInputError(f"data set {name!r}: {path} is not an image ({exc}); replace it "
                             "or leave it out of the data set") from None


def check_dataset(name: str, evaluated: bool = False) -> Optional[int]:
    """Raise UserInputError if data set ``name`` is unregistered, missing or unreadable;
    return its number of classes when known. ``evaluated``: also what the evaluator reads
    (the VOC evaluator's XML fields; every image's header)."""
    if name not in DatasetCatalog.list():
        raise UserInputError(f"data set {name!r} is not registered; use one of detectron2's "
                             f"built-in names, {', '.join(DEMO_DATASETS)}, or register yours")
    meta = MetadataCatalog.get(name)
    if hasattr(meta, "dirname") and hasattr(meta, "split"):  # Pascal VOC layout
        split_file = os.path.join(meta.dirname, "ImageSets", "Main", f"{meta.split}.txt")
        for path in (meta.dirname, split_file):
            if not os.path.exists(path):
                raise _missing(name, path)
        with open(split_file) as f:
            ids = f.read().split()
        if not ids:
            raise UserInputError(f"data set {name!r}: {split_file} lists no images; "
                                 "write one image id per line")
        boxes = inside = 0
        outside = []  # (annotation, box, image size) of boxes that reach outside their image
        step = max(1, len(ids) // SAMPLES_DECODED)
        for number, image_id in enumerate(ids):
            xml = os.path.join(meta.dirname, "Annotations", f"{image_id}.xml")
            if not os.path.exists(xml):
                raise _missing(name, xml)
            try:
                tree = ET.parse(xml)
            except ET.ParseError as exc:
                raise UserInputError(f"data set {name!r}: annotation {xml} is corrupt ({exc}); "
                                     "restore or regenerate it") from None
            problem = _voc_annotation_problem(tree, getattr(meta, "thing_classes", None),
                                              evaluated)
            if problem:
                raise UserInputError(f"data set {name!r}: annotation {xml} {problem}; fix it "
                                     "(Pascal VOC XML) or leave the image out of the split")
            size = _number(tree, "size/width"), _number(tree, "size/height")
            for obj in tree.findall("object"):
                boxes += 1
                box = [_number(obj, f"bndbox/{k}") for k in ("xmin", "ymin", "xmax", "ymax")]
                inside += _overlaps_image(box, *size)
                if _reaches_outside(box, *size):
                    outside.append((xml, box, size))
            if evaluated:
                _check_image(name, os.path.join(meta.dirname, "JPEGImages", f"{image_id}.jpg"),
                             decode=number % step == 0)
        if boxes and not inside:
            raise _no_box_inside(name, split_file, boxes)
        _warn_outside(name, outside, boxes)
        classes = getattr(meta, "thing_classes", None)
        return len(classes) if classes else None
    if hasattr(meta, "json_file"):  # COCO JSON
        return _check_coco(name, meta, evaluated)
    return None


def _check_coco(name: str, meta, evaluated: bool) -> Optional[int]:
    image_root = getattr(meta, "image_root", meta.json_file)
    for path in (meta.json_file, image_root):
        if not os.path.exists(path):
            raise _missing(name, path)
    size = os.path.getsize(meta.json_file)
    if size == 0:
        raise UserInputError(f"data set {name!r}: annotation file {meta.json_file} is empty; "
                             "restore or regenerate it")
    try:
        if size > _JSON_PARSE_LIMIT:  # e.g. COCO train: check the start only
            with open(meta.json_file, "rb") as f:
                if f.read(64).lstrip()[:1] != b"{":
                    raise json.JSONDecodeError("not a JSON object", "", 0)
            return None
        with open(meta.json_file) as f:
            content = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserInputError(f"data set {name!r}: annotation file {meta.json_file} is not "
                             f"valid JSON ({exc}); restore or regenerate it") from None
    missing = [k for k in ("images", "annotations", "categories")
               if not isinstance(content, dict) or k not in content]
    if missing:
        raise UserInputError(f"data set {name!r}: {meta.json_file} lacks {missing}; "
                             "it is not a COCO instances file")
    category_ids = {c.get("id") for c in content["categories"] if isinstance(c, dict)}
    image_ids = {i.get("id") for i in content["images"] if isinstance(i, dict)}
    for ann in content["annotations"]:
        if not isinstance(ann, dict) or not {"image_id", "category_id", "bbox"} <= set(ann):
            raise UserInputError(f"data set {name!r}: {meta.json_file} has an annotation "
                                 "without image_id, category_id or bbox; fix the file")
        if ann["category_id"] not in category_ids:
            raise UserInputError(f"data set {name!r}: {meta.json_file} has an annotation of "
                                 f"category id {ann['category_id']}, which is not among its "
                                 "categories; fix the file")
        if ann["image_id"] not in image_ids:
            raise UserInputError(f"data set {name!r}: {meta.json_file} has an annotation of "
                                 f"image id {ann['image_id']}, which is not among its images; "
                                 "fix the file")
    if not content["images"]:
        raise UserInputError(f"data set {name!r}: {meta.json_file} lists no images")
    sizes = {i.get("id"): (i.get("width"), i.get("height")) for i in content["images"]
             if isinstance(i, dict)}
    boxes = [(a["bbox"], sizes.get(a["image_id"])) for a in content["annotations"]]
    xyxy = [((b[0], b[1], b[0] + b[2], b[1] + b[3]), size) for b, size in boxes
            if isinstance(b, (list, tuple)) and len(b) == 4 and size and None not in size]
    if boxes and not any(_overlaps_image(box, *size) for box, size in xyxy):
        raise _no_box_inside(name, meta.json_file, len(boxes))
    _warn_outside(name, [(meta.json_file, box, size) for box, size in xyxy
                         if _reaches_outside(box, *size)], len(boxes))
    if evaluated:
        step = max(1, len(content["images"]) // SAMPLES_DECODED)
        for number, image in enumerate(content["images"]):
            _check_image(name, os.path.join(image_root, image.get("file_name", "")),
                         decode=number % step == 0)
    return len(category_ids)
