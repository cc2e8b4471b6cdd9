"""Run a trained MMDetection detector on images and draw its boxes, with mmdet's own inference
(``mmdet.apis.inference_detector``: the config's test pipeline, ``test_step``) and its
``DetLocalVisualizer`` (the library side of tools/infer.py mmdet).

mmdet's ``init_detector`` is not used: it unpickles the checkpoint and loads it without
checking that it fits. :func:`init_detector` builds the model the same way, then loads the
weights with ``weights_only`` and refuses a checkpoint of another model. Importing this module
(through ``c3_dense.mmdet``) puts the ``mmcv.ops`` stand-in in place, so it works with
mmcv-lite."""
from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np
import torch

from c3_dense.errors import UserInputError, check_device
from c3_dense.openmmlab.engine import dataset_classes, load_checked_weights

from .engine import build_model, load_config


def init_detector(config: str, checkpoint: str, cfg_options: Optional[dict] = None,
                  device: str = "cpu"):
    """The detector of ``config`` with the weights of ``checkpoint`` (checked to fit), in eval
    mode, with ``cfg`` and ``dataset_meta`` set as mmdet's inference API expects."""
    from mmdet.registry import DATASETS

    cfg = load_config(config, cfg_options)
    cfg.model.backbone.init_cfg = None  # the checkpoint holds every weight
    if not (cfg.get("test_dataloader") or {}).get("dataset", {}).get("pipeline"):
        raise UserInputError(f"config {config} has no test_dataloader.dataset.pipeline; add "
                             "the one of its data set (mmdet's inference reads it)")
    model = build_model(cfg, config)
    load_checked_weights(model, checkpoint)
    model.cfg = cfg
    classes = dataset_classes(cfg.test_dataloader.dataset, DATASETS, "mmdet") or []
    num_classes = model.roi_head.bbox_head.num_classes if hasattr(model, "roi_head") else None
    if num_classes and len(classes) != num_classes:
        classes = [str(i) for i in range(num_classes)]
    model.dataset_meta = {"classes": tuple(classes)}
    return model.to(device).eval()


class Detector:
    """A trained mmdet detector that takes image files (or RGB arrays) and returns its
    detections scoring at least ``score_threshold``, drawn with mmdet's DetLocalVisualizer.
    The interface of ``c3_dense.detectron2.inference.Predictor`` that tools/infer.py uses
    (predict, predict_image, draw, draw_frame, to_json, describe, empty_note)."""

    task = "mmdet"
    _made = 0  # visualizers made (mmengine keeps them by name)

    def __init__(self, model, score_threshold: float = 0.5):
        self.model, self.score_threshold = model, score_threshold
        self.classes = list(model.dataset_meta["classes"])
        self._visualizer = None

    @property
    def network(self) -> torch.nn.Module:
        return self.model

    def predict(self, path: str):
        """mmdet's ``inference_detector`` on one image file: its kept detections (boxes in the
        image's pixels)."""
        return self._infer(path)

    def predict_image(self, image_rgb: np.ndarray):
        """The same for an RGB uint8 image (a video frame); mmdet takes arrays as BGR."""
        return self._infer(np.ascontiguousarray(image_rgb[:, :, ::-1]))

    def _infer(self, image):
        from mmengine.registry import DefaultScope
        from mmdet.apis import inference_detector

        scope = self.model.cfg.get("default_scope", "mmdet") or "mmdet"
        with torch.no_grad(), DefaultScope.overwrite_default_scope(scope):
            sample = inference_detector(self.model, image)
        found = sample.pred_instances
        return found[found.scores >= self.score_threshold].cpu()

    def draw(self, image_rgb: np.ndarray, instances, scale: float = 1.0) -> np.ndarray:
        """``image_rgb`` with the detections drawn; RGB uint8."""
        from mmdet.structures import DetDataSample
        from mmdet.visualization import DetLocalVisualizer

        sample = DetDataSample()
        sample.pred_instances = instances
        if self._visualizer is None:
            # mmengine keeps visualizers by name: one name per detector.
            Detector._made += 1
            self._visualizer = DetLocalVisualizer(name=f"c3_dense_detector_{Detector._made}")
            self._visualizer.dataset_meta = self.model.dataset_meta
        self._visualizer.add_datasample("image", image_rgb, sample, draw_gt=False,
                                        draw_pred=True, pred_score_thr=self.score_threshold)
        return self._visualizer.get_image()

    def draw_frame(self, frame_rgb: np.ndarray, instances) -> np.ndarray:
        return self.draw(frame_rgb, instances)

    def empty_note(self, instances) -> Optional[str]:
        if len(instances) == 0:
            return f"no detections \u2265 {self.score_threshold:g}"
        return None

    def to_json(self, instances) -> Dict:
        return {"detections": detections_to_json(instances, self.classes)}

    def describe(self, instances) -> str:
        return f"{len(instances)} detections (score >= {self.score_threshold:g})"


def load_detector(config: str, checkpoint: str, cfg_options: Optional[dict] = None,
                  score_threshold: float = 0.5, device: str = "cpu") -> Detector:
    """A :class:`Detector` for ``config`` with the weights of ``checkpoint`` (checked) on
    ``device``. The model's own test threshold (``model.test_cfg.rcnn.score_thr``, unless
    ``cfg_options`` sets it) becomes the lower of mmdet's usual 0.05 and ``score_threshold``,
    so that thresholds under 0.05 work; the drawings and the JSON hold the same detections
    (those at or above ``score_threshold``)."""
    options = dict(cfg_options or {})
    options.setdefault("model.test_cfg.rcnn.score_thr", min(0.05, score_threshold))
    return Detector(init_detector(config, checkpoint, options, check_device(device)),
                    score_threshold)


def detections_to_json(instances, classes: List[str]) -> List[Dict]:
    """Detections as plain JSON: XYXY box in pixels, score, class index and name (as
    detectron2's side writes them)."""
    boxes = instances.bboxes.tolist()
    scores = instances.scores.tolist()
    labels = instances.labels.tolist()
    return [{"box_xyxy": [round(v, 2) for v in box], "score": round(score, 4), "class": label,
             "class_name": classes[label] if label < len(classes) else str(label)}
            for box, score, label in zip(boxes, scores, labels)]
