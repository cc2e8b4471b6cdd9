"""Tiny data sets in the real layouts the shipped configs read (detectron2's VOC2007/VOC2012/
coco, mmseg's VOCdevkit with SegmentationClassAug and cityscapes), and ImageNet weights files
in their real formats (MSRA Caffe2-named .pkl, detectron2-converted torchvision .pkl, mmseg
ResNetV1c .pth), written from randomly initialised networks."""
from __future__ import annotations

import json
import os
import pickle

import numpy as np
from PIL import Image

VOC_CLASSES = ["aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
               "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
               "sheep", "sofa", "train", "tvmonitor"]


def _image(rng, height, width):
    return Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8))


def _boxes(rng, height, width, count=2):
    out = []
    for _ in range(count):
        x0, y0 = rng.integers(0, width // 2), rng.integers(0, height // 2)
        out.append((int(x0), int(y0), int(x0 + rng.integers(8, width // 2)),
                    int(y0 + rng.integers(8, height // 2))))
    return out


IMAGENET_SYNSETS = ("n01440764", "n01443537", "n01484850")


def write_imagenet(data_root, per_class, size=(40, 48), seed=0):
    """ImageNet's class-folder layout (train/<synset>/*.JPEG, val/...) of three classes."""
    rng = np.random.default_rng(seed)
    for split in ("train", "val"):
        for synset in IMAGENET_SYNSETS:
            folder = os.path.join(data_root, "imagenet", split, synset)
            os.makedirs(folder)
            for i in range(per_class):
                _image(rng, *size).save(os.path.join(folder, f"{synset}_{i}.JPEG"))


def imagenet_options():
    """--cfg-options for the ImageNet configs on that tree: its classes named, one epoch of
    batch 3, no data-loader workers."""
    classes = "[" + ",".join(IMAGENET_SYNSETS) + "]"
    options = {"train_cfg.max_epochs": 1, "train_dataloader.batch_size": 3,
               "val_dataloader.batch_size": 3, "model.head.num_classes": 3,
               "data_preprocessor.num_classes": 3}
    for loader in ("train_dataloader", "val_dataloader", "test_dataloader"):
        options[f"{loader}.num_workers"] = 0
        options[f"{loader}.dataset.metainfo.classes"] = classes
    return options


def write_voc_detection(root, year, splits, size=(60, 80), seed=0):
    """``root``/VOC<year>/{JPEGImages,Annotations,ImageSets/Main/<split>.txt}."""
    rng = np.random.default_rng(seed)
    base = os.path.join(root, f"VOC{year}")
    for sub in ("JPEGImages", "Annotations", os.path.join("ImageSets", "Main")):
        os.makedirs(os.path.join(base, sub), exist_ok=True)
    for split, count in splits.items():
        ids = [f"{year}_{split}_{i:04d}" for i in range(count)]
        for n, image_id in enumerate(ids):
            h, w = size if n % 2 == 0 else size[::-1]  # both aspect groups
            _image(rng, h, w).save(os.path.join(base, "JPEGImages", f"{image_id}.jpg"))
            objects = "".join(
                f"<object><name>{VOC_CLASSES[int(rng.integers(0, 20))]}</name><pose>Left</pose>"
                f"<truncated>0</truncated><difficult>0</difficult><bndbox><xmin>{x0 + 1}</xmin><ymin>{y0 + 1}</ymin><xmax>{x1}</xmax>"
                f"<ymax>{y1}</ymax></bndbox></object>" for x0, y0, x1, y1 in _boxes(rng, h, w))
            with open(os.path.join(base, "Annotations", f"{image_id}.xml"), "w") as f:
                f.write(f"<annotation><filename>{image_id}.jpg</filename><size><width>{w}</width>"
                        f"<height>{h}</height><depth>3</depth></size>{objects}</annotation>")
        with open(os.path.join(base, "ImageSets", "Main", f"{split}.txt"), "w") as f:
            f.write("\n".join(ids) + "\n")


def write_coco(root, splits, size=(60, 80), seed=0):
    """``root``/coco/{<split>2017/, annotations/instances_<split>2017.json} with COCO's 80
    categories (ids and names as detectron2's built-in metadata expects)."""
    from detectron2.data.datasets.builtin_meta import COCO_CATEGORIES

    rng = np.random.default_rng(seed)
    categories = [{"id": c["id"], "name": c["name"], "supercategory": "thing"}
                  for c in COCO_CATEGORIES if c["isthing"]]
    os.makedirs(os.path.join(root, "coco", "annotations"), exist_ok=True)
    for split, count in splits.items():
        folder = os.path.join(root, "coco", f"{split}2017")
        os.makedirs(folder, exist_ok=True)
        images, annotations = [], []
        for i in range(count):
            h, w = size if i % 2 == 0 else size[::-1]
            name = f"{i:012d}.jpg"
            _image(rng, h, w).save(os.path.join(folder, name))
            images.append({"id": i + 1, "file_name": name, "height": h, "width": w})
            for x0, y0, x1, y1 in _boxes(rng, h, w):
                annotations.append({"id": len(annotations) + 1, "image_id": i + 1,
                                    "category_id": categories[int(rng.integers(0, 80))]["id"],
                                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                                    "area": float((x1 - x0) * (y1 - y0)), "iscrowd": 0})
        with open(os.path.join(root, "coco", "annotations", f"instances_{split}2017.json"),
                  "w") as f:
            json.dump({"images": images, "annotations": annotations,
                       "categories": categories}, f)


def _label(rng, height, width, classes):
    label = np.zeros((height, width), np.uint8)
    for x0, y0, x1, y1 in _boxes(rng, height, width):
        label[y0:y1, x0:x1] = rng.integers(1, classes)
    label[0, :] = 255  # an ignored border row, as VOC has
    return label


def write_voc_segmentation(data_root, counts=None, size=(48, 64), seed=0):
    """mmseg's ``data/VOCdevkit/VOC2012`` with SegmentationClass, SegmentationClassAug and
    ImageSets/Segmentation/{train,aug,val}.txt."""
    counts = counts or {"train": 2, "aug": 2, "val": 1}
    rng = np.random.default_rng(seed)
    base = os.path.join(data_root, "VOCdevkit", "VOC2012")
    for sub in ("JPEGImages", "SegmentationClass", "SegmentationClassAug",
                os.path.join("ImageSets", "Segmentation")):
        os.makedirs(os.path.join(base, sub), exist_ok=True)
    for split, count in counts.items():
        ids = [f"2012_{split}_{i:04d}" for i in range(count)]
        labels = "SegmentationClassAug" if split == "aug" else "SegmentationClass"
        for image_id in ids:
            _image(rng, *size).save(os.path.join(base, "JPEGImages", f"{image_id}.jpg"))
            Image.fromarray(_label(rng, *size, 21)).save(
                os.path.join(base, labels, f"{image_id}.png"))
        with open(os.path.join(base, "ImageSets", "Segmentation", f"{split}.txt"), "w") as f:
            f.write("\n".join(ids) + "\n")


def write_cityscapes(data_root, counts=None, size=(32, 64), seed=0):
    """mmseg's ``data/cityscapes`` with leftImg8bit/ and gtFine/*_labelTrainIds.png."""
    counts = counts or {"train": 2, "val": 1}
    rng = np.random.default_rng(seed)
    for split, count in counts.items():
        images = os.path.join(data_root, "cityscapes", "leftImg8bit", split, "aachen")
        labels = os.path.join(data_root, "cityscapes", "gtFine", split, "aachen")
        os.makedirs(images, exist_ok=True)
        os.makedirs(labels, exist_ok=True)
        for i in range(count):
            stem = f"aachen_{split}_{i:06d}_000019"
            _image(rng, *size).save(os.path.join(images, f"{stem}_leftImg8bit.png"))
            Image.fromarray(_label(rng, *size, 19)).save(
                os.path.join(labels, f"{stem}_gtFine_labelTrainIds.png"))


# ------------------------------------------------------------------------------ weights files
def caffe2_name(key):
    """detectron2 trunk key -> MSRA/Caffe2 blob name (res2.0.conv1.norm.weight ->
    res2_0_branch2a_bn_s), the names in the MSRA ImageNet R-50.pkl / R-101.pkl."""
    if key.startswith("stem.conv1."):
        return {"weight": "conv1_w", "norm.weight": "res_conv1_bn_s",
                "norm.bias": "res_conv1_bn_b"}.get(key[len("stem.conv1."):])
    stage, index, conv, rest = key.split(".", 3)
    branch = {"conv1": "branch2a", "conv2": "branch2b", "conv3": "branch2c",
              "shortcut": "branch1"}[conv]
    suffix = {"weight": "w", "norm.weight": "bn_s", "norm.bias": "bn_b"}.get(rest)
    return suffix and f"{stage}_{index}_{branch}_{suffix}"


def write_msra_pkl(path, depth=50):
    """An MSRA-style ImageNet file: Caffe2 blob names, FrozenBN scale/bias only, fc1000."""
    from detectron2.config import get_cfg
    from detectron2.layers import ShapeSpec
    from detectron2.modeling.backbone.resnet import build_resnet_backbone

    cfg = get_cfg()
    cfg.MODEL.RESNETS.DEPTH = depth
    cfg.MODEL.RESNETS.OUT_FEATURES = ["res5"]
    trunk = build_resnet_backbone(cfg, ShapeSpec(channels=3))
    blobs = {}
    for key, value in trunk.state_dict().items():
        name = caffe2_name(key)
        if name:
            blobs[name] = value.numpy()
    blobs["fc1000_w"] = np.zeros((1000, 2048), np.float32)
    blobs["fc1000_b"] = np.zeros(1000, np.float32)
    with open(path, "wb") as f:
        pickle.dump(blobs, f, protocol=2)
    return blobs


def torchvision_to_detectron2(state):
    """torchvision ResNet state dict -> the .pkl detectron2's converter writes (our own
    restatement of its renaming: layerN -> res(N+1), bnK -> convK.norm, downsample ->
    shortcut, everything outside the layers under stem.)."""
    out = {}
    for key, value in state.items():
        new = key
        if "layer" not in new:
            new = "stem." + new
        for t in (1, 2, 3, 4):
            new = new.replace(f"layer{t}", f"res{t + 1}")
        for t in (1, 2, 3):
            new = new.replace(f"bn{t}", f"conv{t}.norm")
        new = new.replace("downsample.0", "shortcut").replace("downsample.1", "shortcut.norm")
        out[new] = value.detach().numpy()
    return {"model": out, "__author__": "torchvision", "matching_heuristics": True}


def write_torchvision_pkl(path, depth=50):
    import torchvision

    model = getattr(torchvision.models, f"resnet{depth}")()
    data = torchvision_to_detectron2(model.state_dict())
    with open(path, "wb") as f:
        pickle.dump(data, f)
    return data


def write_mmseg_resnet_v1c(path, depth=50):
    """mmseg's ImageNet ResNetV1c file: the backbone's bare state dict."""
    import torch
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS

    with DefaultScope.overwrite_default_scope("mmseg"):
        model = MODELS.build(dict(type="ResNetV1c", depth=depth))
    torch.save(model.state_dict(), path)
    return model.state_dict()


def write_torchvision_pth(path, depth=50):
    """torchvision's ImageNet ResNet file as torch hub saves it (resnet50-0676ba61.pth: the
    bare state dict, classifier ``fc.*`` included): what mmdet's configs load."""
    import torch
    import torchvision

    state = getattr(torchvision.models, f"resnet{depth}")().state_dict()
    torch.save(state, path)
    return state


def mmdet_small_options(config, size=(128, 96), batch=2):
    """--cfg-options that shrink an mmdet config to tiny data: one epoch of ``batch`` images
    (RepeatDataset once), every Resize to ``size``, no data-loader workers."""
    from mmengine.config import Config

    from c3_dense.openmmlab.engine import leaf_datasets

    cfg = Config.fromfile(config)
    options = [f"train_dataloader.batch_size={batch}", "val_dataloader.batch_size=1",
               "test_dataloader.batch_size=1"]
    if cfg.get("train_cfg", {}).get("type") == "IterBasedTrainLoop":
        options += ["train_cfg.max_iters=2", "train_cfg.val_interval=2",
                    "default_hooks.checkpoint.interval=2"]
    else:
        options += ["train_cfg.max_epochs=1"]
    if cfg.train_dataloader.dataset.get("type") == "RepeatDataset":
        options.append("train_dataloader.dataset.times=1")
    for loader in ("train_dataloader", "val_dataloader", "test_dataloader"):
        options += [f"{loader}.num_workers=0", f"{loader}.persistent_workers=False"]
    for _, ds, key in leaf_datasets(cfg):
        for i, step in enumerate(ds.get("pipeline") or []):
            if step.get("type") == "Resize":
                options.append(f"{key}.pipeline.{i}.scale=({size[0]},{size[1]})")
    return options
