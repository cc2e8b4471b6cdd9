"""The demo data set for mmseg (Pascal VOC-style layout with palette PNG labels)."""
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from c3_dense.data import DEMO_CLASSES
from c3_dense.data.demo import voc_palette

_PALETTE = voc_palette()


@DATASETS.register_module()
class C3DemoDataset(BaseSegDataset):
    """Digits on photographs: background + the demo's digit classes; 255 = ignore."""

    METAINFO = dict(classes=("background",) + tuple(DEMO_CLASSES),
                    palette=[_PALETTE[3 * i:3 * i + 3] for i in range(len(DEMO_CLASSES) + 1)])

    def __init__(self, img_suffix=".jpg", seg_map_suffix=".png", **kwargs):
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         reduce_zero_label=False, **kwargs)
