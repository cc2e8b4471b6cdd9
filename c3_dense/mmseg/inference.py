"""Run a trained segmentor on images and draw its label maps, with mmseg's own inference
(``mmseg.apis.inference_model``: the config's test pipeline, ``test_step``) and its
``SegLocalVisualizer`` (the library side of tools/infer.py seg and tools/visualize.py).

mmseg's ``init_model`` is not used: it unpickles the checkpoint and loads it without checking
that it fits. :func:`init_segmentor` builds the model the same way, then loads the weights
with ``weights_only`` and refuses a checkpoint of another model. Importing this module (through
``c3_dense.mmseg``) puts the ``mmcv.ops`` stand-in in place, so it works with mmcv-lite.
"""
from __future__ import annotations

import copy
import os
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from c3_dense.errors import UserInputError, check_device
from c3_dense.openmmlab.engine import load_checked_weights

from .engine import build_model, check_config, load_config


def _dataset_meta(cfg, num_classes: int) -> Dict:
    """Class names and palette: from the test data set's class (its METAINFO), else numbered
    classes with fixed random colours."""
    from mmseg.registry import DATASETS

    ds = (cfg.get("test_dataloader") or {}).get("dataset") or {}
    meta = dict(ds.get("metainfo") or {})
    if "classes" not in meta and ds.get("type"):
        cls = DATASETS.get(ds["type"])
        meta = dict(getattr(cls, "METAINFO", {}) or {}, **meta)
    classes = list(meta.get("classes") or [str(i) for i in range(num_classes)])
    if len(classes) != num_classes:
        classes = [str(i) for i in range(num_classes)]
    palette = meta.get("palette")
    if not palette or len(palette) < num_classes:
        rng = np.random.default_rng(0)
        palette = [tuple(int(v) for v in rng.integers(0, 256, 3)) for _ in range(num_classes)]
    return {"classes": classes, "palette": [list(p) for p in palette[:num_classes]]}


def init_segmentor(config: str, checkpoint: str, cfg_options: Optional[dict] = None,
                   device: str = "cpu"):
    """The segmentor of ``config`` with the weights of ``checkpoint`` (checked to fit), in eval
    mode, with ``cfg`` and ``dataset_meta`` set as mmseg's inference API expects."""
    cfg = load_config(config, cfg_options)
    cfg.model.pretrained = None  # the checkpoint holds every weight
    if cfg.model.get("backbone", {}).get("init_cfg"):
        cfg.model.backbone.init_cfg = None
    cfg.model.train_cfg = None
    if not cfg.get("test_pipeline"):
        raise UserInputError(f"config {config} has no test_pipeline; add the one of its data "
                             "set (mmseg's inference reads it)")
    model = build_model(cfg, config)
    load_checked_weights(model, checkpoint)
    model.cfg = cfg
    model.dataset_meta = _dataset_meta(cfg, model.decode_head.num_classes)
    return model.to(device).eval()


class Segmentor:
    """A trained segmentor that takes image files and returns H×W class maps, drawn with mmseg's
    SegLocalVisualizer; ground truth from the config's test set. The same interface as
    ``c3_dense.detectron2.inference.Predictor`` (predict, draw, draw_truth, to_json)."""

    task = "seg"
    _made = 0  # visualizers made (mmengine keeps them by name)

    def __init__(self, model, alpha: float = 0.6):
        self.model, self.alpha = model, alpha
        self.classes = list(model.dataset_meta["classes"])
        self._test: Optional[Dict[str, Optional[str]]] = None
        self._truth: Optional[Dict[str, str]] = None
        self._visualizer = None

    @property
    def network(self) -> torch.nn.Module:
        """The model, for hooks (C3 blocks, stages)."""
        return self.model

    def predict(self, path: str) -> np.ndarray:
        """mmseg's ``inference_model`` on one image file (the config's test pipeline,
        ``test_step``): the predicted class per pixel at the image's size."""
        return self._infer(path)

    def predict_image(self, image_rgb: np.ndarray) -> np.ndarray:
        """The same for an RGB uint8 image (a video frame); mmseg takes arrays as BGR, the
        channel order of the images it reads."""
        return self._infer(np.ascontiguousarray(image_rgb[:, :, ::-1]))

    def _infer(self, image) -> np.ndarray:
        from mmengine.registry import DefaultScope
        from mmseg.apis import inference_model

        scope = self.model.cfg.get("default_scope", "mmseg") or "mmseg"
        with torch.no_grad(), DefaultScope.overwrite_default_scope(scope):
            sample = inference_model(self.model, image)
        return sample.pred_sem_seg.data[0].cpu().numpy().astype(np.uint8)

    def draw(self, image_rgb: np.ndarray, labels: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """``image_rgb`` with the class map ``labels`` (255 = ignore, left undrawn), enlarged
        ``scale`` times (image bilinear, labels nearest); RGB uint8."""
        from PIL import Image
        from mmengine.structures import PixelData
        from mmseg.structures import SegDataSample
        from mmseg.visualization import SegLocalVisualizer

        if scale != 1.0:
            size = (round(image_rgb.shape[1] * scale), round(image_rgb.shape[0] * scale))
            image_rgb = np.asarray(Image.fromarray(image_rgb).resize(size, Image.BILINEAR))
            labels = np.asarray(Image.fromarray(labels).resize(size, Image.NEAREST))
        sample = SegDataSample()
        sample.pred_sem_seg = PixelData(data=torch.from_numpy(labels.astype(np.int64))[None])
        if self._visualizer is None:
            # mmengine keeps visualizers by name: one name per segmentor.
            Segmentor._made += 1
            self._visualizer = SegLocalVisualizer(name=f"c3_dense_segmentor_{Segmentor._made}",
                                                  alpha=self.alpha)
            self._visualizer.set_dataset_meta(self.model.dataset_meta["classes"],
                                              self.model.dataset_meta["palette"])
        # Class names on the regions (mmseg's labels) where the picture is large enough for
        # text; on small images they would hide what they name.
        self._visualizer.add_datasample("image", image_rgb, sample, draw_gt=False,
                                        draw_pred=True, with_labels=min(labels.shape) >= 256)
        return self._visualizer.get_image()

    def test_images(self) -> List[str]:
        """The image files of the config's test set, sorted."""
        return sorted(self._test_set())

    def _test_set(self) -> Dict[str, Optional[str]]:
        """:func:`test_set` of the model's config, checked and read once per segmentor."""
        if self._test is None:
            self._test = test_set(self.model.cfg)
        return self._test

    def truth(self, path: str) -> Optional[np.ndarray]:
        """The ground-truth class map of an image of the config's test set (by file name), or
        None when the image is not in it."""
        from PIL import Image

        if self._truth is None:
            self._truth = {os.path.basename(image): labels
                           for image, labels in self._test_set().items()}
        label_path = self._truth.get(os.path.basename(path))
        if label_path is None:
            return None
        with Image.open(label_path) as image:
            return np.asarray(image).astype(np.uint8)

    def draw_frame(self, frame_rgb: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """A video frame with its class map (as :meth:`draw`)."""
        return self.draw(frame_rgb, labels)

    def empty_note(self, labels: np.ndarray) -> Optional[str]:
        """A class map is never empty: nothing to say under its picture."""
        return None

    def draw_truth(self, path: str, image_rgb: np.ndarray, scale: float = 1.0) -> Optional[np.ndarray]:
        labels = self.truth(path)
        return None if labels is None else self.draw(image_rgb, labels, scale)

    def to_json(self, labels: np.ndarray) -> Dict:
        return {"classes": class_shares(labels, self.classes)}

    def describe(self, labels: np.ndarray) -> str:
        return ", ".join(f"{s['class_name']} {100 * s['pixel_share']:.1f}%"
                         for s in class_shares(labels, self.classes))


def load_segmentor(config: str, checkpoint: str, cfg_options: Optional[dict] = None,
                   device: str = "cpu", opacity: float = 0.6) -> Segmentor:
    """A :class:`Segmentor` for ``config`` with the weights of ``checkpoint`` (checked) on
    ``device``; ``opacity``: of the class colours over the image."""
    return Segmentor(init_segmentor(config, checkpoint, cfg_options, check_device(device)),
                     alpha=opacity)


def test_set(cfg) -> Dict[str, Optional[str]]:
    """{image path: label map path or None} of the config's test data set."""
    from mmengine.registry import DefaultScope
    from mmseg.registry import DATASETS

    # A missing folder or split file: one clear line (with the --cfg-options fix), not
    # mmengine's assertion.
    check_config(cfg, "the config", loaders=("test_dataloader",))
    ds_cfg = copy.deepcopy(cfg.test_dataloader.dataset)
    with DefaultScope.overwrite_default_scope(cfg.get("default_scope", "mmseg") or "mmseg"):
        dataset = DATASETS.build(ds_cfg)
    infos = (dataset.get_data_info(i) for i in range(len(dataset)))
    return {i["img_path"]: i.get("seg_map_path") for i in infos}


def class_shares(labels: np.ndarray, classes: Sequence[str]) -> List[Dict]:
    """Each class present in ``labels``: index, name, share of the pixels."""
    values, counts = np.unique(labels, return_counts=True)
    total = max(int(labels.size), 1)
    return [{"class": int(v), "class_name": classes[v] if v < len(classes) else str(int(v)),
             "pixel_share": round(int(c) / total, 5)} for v, c in zip(values, counts)]
