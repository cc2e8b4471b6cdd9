"""Small data sets in CIFAR-100's own format (``cifar-100-python/{train,test,meta}``, pickled
dicts as the official archive holds them), made deterministically: for the tests and for
running the CIFAR recipes end to end on a machine without the real data.

Each class is a fixed random low-frequency colour pattern; an image is its class pattern,
shifted by a few pixels, plus noise, so that a network can learn the classes in a few epochs.
"""
from __future__ import annotations

import os
import pickle

import numpy as np

NUM_CLASSES = 100


def _patterns(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, size=(NUM_CLASSES, 3, 4, 4))
    # 4×4 → 40×40 by repetition: room for random 32×32 crops (shifts).
    return np.repeat(np.repeat(coarse, 10, axis=2), 10, axis=3)


def _images(patterns: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = np.empty((len(labels), 3, 32, 32), dtype=np.uint8)
    for i, label in enumerate(labels):
        dy, dx = rng.integers(0, 9, size=2)
        image = patterns[label, :, dy:dy + 32, dx:dx + 32] + rng.normal(0, 20, size=(3, 32, 32))
        out[i] = np.clip(image, 0, 255).astype(np.uint8)
    return out.reshape(len(labels), 3072)


def write_cifar100_like(data_root: str, train_per_class: int = 5, test_per_class: int = 2,
                        seed: int = 0) -> str:
    """Write ``data_root/cifar-100-python/`` with ``train_per_class`` and ``test_per_class``
    images of each of the 100 classes; returns the folder."""
    folder = os.path.join(data_root, "cifar-100-python")
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed + 1)
    patterns = _patterns(seed)
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        labels = rng.permutation(np.repeat(np.arange(NUM_CLASSES), per_class))
        entry = {"filenames": [f"{split}_{i:06d}.png" for i in range(len(labels))],
                 "batch_label": f"{split} batch (generated)",
                 "fine_labels": labels.tolist(),
                 "coarse_labels": (labels // 5).tolist(),
                 "data": _images(patterns, labels, rng)}
        with open(os.path.join(folder, split), "wb") as f:
            pickle.dump(entry, f, protocol=2)
    meta = {"fine_label_names": [f"class_{i:02d}" for i in range(NUM_CLASSES)],
            "coarse_label_names": [f"superclass_{i:02d}" for i in range(20)]}
    with open(os.path.join(folder, "meta"), "wb") as f:
        pickle.dump(meta, f, protocol=2)
    return folder
