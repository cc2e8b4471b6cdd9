"""CIFAR-100 from the standard local layout, for mmpretrain's DATASETS registry."""
from __future__ import annotations

import os
from typing import List

import numpy as np
from mmpretrain.datasets import CIFAR100
from mmpretrain.datasets.utils import check_md5
from mmpretrain.registry import DATASETS

from c3_dense.errors import UserInputError
from c3_dense.weights import load_weights_pickle

LAYOUT = ("the folder cifar-100-python/ with the files train, test and meta, as the official "
          "archive unpacks")


@DATASETS.register_module()
class LocalCIFAR100(CIFAR100):
    """CIFAR-100 read from ``data_root/cifar-100-python/{train,test,meta}``.

    Unlike mmpretrain's ``CIFAR100`` it never downloads (a missing folder is a one-line error
    naming the layout), reads the pickles with a plain-data unpickler (a crafted file cannot
    run code) and checks their content (a N×3072 uint8 ``data`` array, ``fine_labels`` in
    0..99). ``verify_md5=True`` (default) also requires the official files' checksums; set it
    to False for another data set in CIFAR-100 format (the tests' generated one).
    """

    def __init__(self, data_root: str = "", split: str = "train", verify_md5: bool = True,
                 download: bool = False, **kwargs):
        if download:
            raise UserInputError("LocalCIFAR100 does not download; unpack cifar-100-python.tar.gz "
                                 "under data_root and drop download=True")
        self.verify_md5 = verify_md5
        super().__init__(data_root=data_root, split=split, download=False, **kwargs)

    def _folder(self) -> str:
        return os.path.join(self.data_prefix["root"], self.base_folder)

    def _split_files(self) -> list:
        """(name, md5) of this split's pickles."""
        return self.train_list if self.split == "train" else self.test_list

    def _check_integrity(self) -> bool:
        folder = self._folder()
        if not os.path.isdir(folder):
            raise UserInputError(f"CIFAR-100: {folder} not found; data_root must hold {LAYOUT} "
                                 "(or point data_root to it: --cfg-options "
                                 "train_dataloader.dataset.data_root=DIR "
                                 "val_dataloader.dataset.data_root=DIR)")
        for name, md5 in self._split_files() + [(self.meta["filename"], self.meta["md5"])]:
            path = os.path.join(folder, name)
            if not os.path.isfile(path):
                raise UserInputError(f"CIFAR-100: {path} is missing; data_root must hold {LAYOUT}")
            if self.verify_md5 and not check_md5(path, md5):
                raise UserInputError(f"CIFAR-100: {path} is not the official file (its md5 "
                                     "differs); use an intact copy, or set the data set's "
                                     "verify_md5=False for another set in CIFAR-100 format")
        return True

    def _read(self, name: str) -> dict:
        path = os.path.join(self._folder(), name)
        with open(path, "rb") as f:
            entry = load_weights_pickle(f, path, what="CIFAR-100 file")
        if not isinstance(entry, dict):
            raise UserInputError(f"CIFAR-100: {path} holds a {type(entry).__name__}, not the "
                                 f"dict of a CIFAR-100 file; data_root must hold {LAYOUT}")
        return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in entry.items()}

    def load_data_list(self) -> List[dict]:
        self._check_integrity()
        images, labels = [], []
        for name, _ in self._split_files():
            entry = self._read(name)
            data, fine = entry.get("data"), entry.get("fine_labels")
            path = os.path.join(self._folder(), name)
            if (not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2
                    or data.shape[1] != 3072):
                raise UserInputError(f"CIFAR-100: {path} has no N×3072 uint8 'data' array; "
                                     f"data_root must hold {LAYOUT}")
            if fine is None or len(fine) != len(data):
                raise UserInputError(f"CIFAR-100: {path} has {0 if fine is None else len(fine)} "
                                     f"'fine_labels' for {len(data)} images")
            fine = np.asarray(fine, dtype=np.int64)
            if fine.size and (fine.min() < 0 or fine.max() > 99):
                raise UserInputError(f"CIFAR-100: {path} has fine labels outside 0..99 "
                                     f"({int(fine.min())}..{int(fine.max())})")
            images.append(data)
            labels.append(fine)
        images = np.concatenate(images).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        if self.CLASSES is None:
            self._load_meta()
        return [{"img": img, "gt_label": int(label)}
                for img, label in zip(images, np.concatenate(labels))]

    def _load_meta(self) -> None:
        names = self._read(self.meta["filename"]).get(self.meta["key"])
        if not names or len(names) != 100:
            raise UserInputError(f"CIFAR-100: {os.path.join(self._folder(), 'meta')} lacks the "
                                 f"100 {self.meta['key']}")
        self._metainfo.setdefault("classes", list(names))
