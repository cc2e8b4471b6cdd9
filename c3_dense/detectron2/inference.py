"""Run a trained detector on images and draw what it finds, with detectron2's own test-time
resize and its ``Visualizer`` (the library side of tools/infer.py det and tools/visualize.py)."""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from detectron2.config import CfgNode
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data import transforms as T
from detectron2.data.catalog import Metadata
from detectron2.structures import Instances
from detectron2.utils.video_visualizer import VideoVisualizer
from detectron2.utils.visualizer import ColorMode, Visualizer

from c3_dense.data.images import read_rgb
from c3_dense.errors import UserInputError, check_device

from .engine import load_model, setup_cfg


class Predictor:
    """A detector from ``cfg`` (weights: ``MODEL.WEIGHTS``, loaded with the checks of
    :class:`~c3_dense.detectron2.engine.C3Checkpointer`) that takes RGB uint8 images and
    returns detectron2 ``Instances`` in image coordinates — what DefaultPredictor does, with
    our safe weights loading."""

    task = "det"

    def __init__(self, cfg: CfgNode, score_threshold: float = 0.5):
        self.cfg = cfg
        self.score_threshold = score_threshold
        self.model = load_model(cfg).eval()
        self.resize = T.ResizeShortestEdge([cfg.INPUT.MIN_SIZE_TEST] * 2, cfg.INPUT.MAX_SIZE_TEST)
        self.metadata = MetadataCatalog.get(cfg.DATASETS.TEST[0]) if cfg.DATASETS.TEST else None
        self._records: Optional[List[Dict]] = None
        self._truth: Optional[Dict[str, Dict]] = None
        self._video: Optional[VideoVisualizer] = None

    def test_records(self) -> List[Dict]:
        """The records of the config's first test set, read once per predictor (COCO val's
        JSON is large)."""
        if self._records is None:
            self._records = (DatasetCatalog.get(self.cfg.DATASETS.TEST[0])
                             if self.cfg.DATASETS.TEST else [])
        return self._records

    @property
    def network(self) -> torch.nn.Module:
        """The model, for hooks (C3 blocks, stages)."""
        return self.model

    def predict(self, path: str) -> Instances:
        return self(read_rgb(path))

    def predict_image(self, image_rgb: np.ndarray) -> Instances:
        """The detections of an RGB uint8 image (a video frame)."""
        return self(image_rgb)

    @property
    def class_names(self) -> List[str]:
        """The test set's class names; numbers when it has none."""
        if self.metadata is None:
            return [str(i) for i in range(self.cfg.MODEL.ROI_HEADS.NUM_CLASSES)]
        if not self.metadata.get("thing_classes") and self.metadata.name in DatasetCatalog.list():
            self.test_records()  # COCO-JSON sets: names come with the data
        names = self.metadata.get("thing_classes")
        return list(names) if names else [str(i) for i in range(self.cfg.MODEL.ROI_HEADS.NUM_CLASSES)]

    @torch.no_grad()
    def __call__(self, image_rgb: np.ndarray) -> Instances:
        height, width = image_rgb.shape[:2]
        image = image_rgb[:, :, ::-1] if self.cfg.INPUT.FORMAT == "BGR" else image_rgb
        image = self.resize.get_transform(image).apply_image(image)
        tensor = torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)).astype("float32"))
        return self.model([{"image": tensor, "height": height, "width": width}])[0]["instances"].to("cpu")

    def _kept(self, instances: Instances) -> Instances:
        """The detections scoring at least ``score_threshold`` (what is drawn and written)."""
        return instances[instances.scores >= self.score_threshold]

    def _drawing_metadata(self) -> Metadata:
        metadata = self.metadata
        if metadata is None or not metadata.get("thing_classes"):  # unregistered test set
            metadata = Metadata(thing_classes=self.class_names)
        return metadata

    def _visualizer(self, image_rgb: np.ndarray, scale: float) -> Visualizer:
        return Visualizer(image_rgb, self._drawing_metadata(), scale=scale,
                          instance_mode=ColorMode.IMAGE)

    def draw(self, image_rgb: np.ndarray, instances: Instances, scale: float = 1.0) -> np.ndarray:
        """The image with the detections scoring at least ``score_threshold``, RGB uint8."""
        return self._visualizer(image_rgb, scale).draw_instance_predictions(
            self._kept(instances)).get_image()

    def draw_frame(self, frame_rgb: np.ndarray, instances: Instances) -> np.ndarray:
        """A video frame with its detections, drawn by detectron2's VideoVisualizer (an object
        keeps its colour from frame to frame)."""
        if self._video is None:
            self._video = VideoVisualizer(self._drawing_metadata(), instance_mode=ColorMode.IMAGE)
        return self._video.draw_instance_predictions(frame_rgb, self._kept(instances)).get_image()

    def empty_note(self, instances: Instances) -> Optional[str]:
        """What an empty drawing means, for a picture's caption; None when something is drawn."""
        if len(self._kept(instances)) == 0:
            return f"no detections \u2265 {self.score_threshold:g}"
        return None

    def to_json(self, instances: Instances) -> Dict:
        return {"detections": instances_to_json(self._kept(instances), self.class_names)}

    def describe(self, instances: Instances) -> str:
        return f"{len(self._kept(instances))} detections (score >= {self.score_threshold:g})"

    def test_images(self) -> List[str]:
        """The image files of the config's first test set, sorted."""
        return sorted(r["file_name"] for r in self.test_records())

    def draw_truth(self, path: str, image_rgb: np.ndarray, scale: float = 1.0) -> Optional[np.ndarray]:
        """The image with its ground-truth boxes from the config's first test set (matched by
        file name), or None when the image is not in it."""
        if self._truth is None:
            self._truth = {os.path.basename(r["file_name"]): r for r in self.test_records()}
        record = self._truth.get(os.path.basename(path))
        if record is None:
            return None
        return self._visualizer(image_rgb, scale).draw_dataset_dict(record).get_image()


def load_detector(config: str, weights: str, opts: Sequence[str] = (),
                  score_threshold: float = 0.5, device: str = "cpu") -> Predictor:
    """A :class:`Predictor` for ``config`` with ``weights`` on ``device`` (``opts`` may set
    MODEL.DEVICE instead). ``score_threshold`` becomes the model's own test threshold, as in
    detectron2's demo.py: the drawings and the JSON hold the same detections, and thresholds
    under the configs' 0.05 work too."""
    if not os.path.isfile(weights):
        raise UserInputError(f"weights file {weights} not found")
    opts = list(opts) + ["MODEL.WEIGHTS", weights]
    keys = list(opts)[::2]
    if "MODEL.DEVICE" not in keys:
        opts += ["MODEL.DEVICE", check_device(device)]
    if "MODEL.ROI_HEADS.SCORE_THRESH_TEST" not in keys:
        opts += ["MODEL.ROI_HEADS.SCORE_THRESH_TEST", str(score_threshold)]
    return Predictor(setup_cfg(config, opts), score_threshold)


def instances_to_json(instances: Instances, class_names: Sequence[str]) -> List[Dict]:
    """Detections as plain JSON: XYXY box in pixels, score, class index and name."""
    boxes = instances.pred_boxes.tensor.tolist()
    scores = instances.scores.tolist()
    classes = instances.pred_classes.tolist()
    return [{"box_xyxy": [round(v, 2) for v in box], "score": round(score, 4), "class": cls,
             "class_name": class_names[cls] if cls < len(class_names) else str(cls)}
            for box, score, cls in zip(boxes, scores, classes)]
