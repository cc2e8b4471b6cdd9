"""MMSegmentation 1.x adapter: C3/SE ResNetV1c, C3/SE plugins, DeepLabV2Head, the demo data
set and a per-class IoU metric, registered in mmseg's registries.

Use from a config with ``custom_imports = dict(imports=['c3_dense.mmseg'],
allow_failed_imports=False)``. Importing it also (1) stands in for ``mmcv.ops`` when mmcv's
compiled ops are missing (mmcv-lite) so that mmseg imports, and (2) lets mmengine checkpoints
load under torch >= 2.6's weights_only default (both: :mod:`c3_dense.openmmlab`).
"""
try:
    import mmseg  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("c3_dense.mmseg needs mmsegmentation 1.x, mmengine and mmcv: run "
                      "`make test` (it installs them) or pip install 'c3_dense[mmseg]'") from exc

from c3_dense.openmmlab import allow_mmengine_checkpoints, prepare  # noqa: E402

prepare()  # before mmseg's models import mmcv.ops

from .backbones import C3Plugin, C3ResNetV1c, SEPlugin, SEResNetV1c  # noqa: E402
from .datasets import C3DemoDataset  # noqa: E402
from .heads import DeepLabV2Head  # noqa: E402
from .metrics import PerClassIoUMetric  # noqa: E402

__all__ = ["C3ResNetV1c", "SEResNetV1c", "C3Plugin", "SEPlugin", "DeepLabV2Head",
           "C3DemoDataset", "PerClassIoUMetric", "allow_mmengine_checkpoints"]
