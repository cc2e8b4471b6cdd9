"""MMSegmentation 1.x adapter: C3/SE ResNetV1c, C3/SE plugins, DeepLabV2Head, the demo data
set and a per-class IoU metric, registered in mmseg's registries.

Use from a config with ``custom_imports = dict(imports=['c3_dense.mmseg'],
allow_failed_imports=False)``. Importing it also (1) stands in for ``mmcv.ops`` when mmcv's
compiled ops are missing (mmcv-lite) so that mmseg imports, and (2) lets mmengine checkpoints
load under torch >= 2.6's weights_only default (both: :mod:`c3_dense.openmmlab`).
"""
try:
    import mmseg  # noqa: F401
except ModuleNotFoundError as exc:  # the message names the command that installs it
    from c3_dense.stack import missing_part_message
    raise ModuleNotFoundError(missing_part_message(exc.name or "mmseg") or str(exc),
                              name=exc.name) from exc

from c3_dense.openmmlab import allow_mmengine_checkpoints, prepare  # noqa: E402

prepare()  # before mmseg's models import mmcv.ops

from .backbones import C3Plugin, C3ResNetV1c, SEPlugin, SEResNetV1c  # noqa: E402
from .datasets import C3DemoDataset  # noqa: E402
from .heads import DeepLabV2Head  # noqa: E402
from .metrics import PerClassIoUMetric  # noqa: E402

__all__ = ["C3ResNetV1c", "SEResNetV1c", "C3Plugin", "SEPlugin", "DeepLabV2Head",
           "C3DemoDataset", "PerClassIoUMetric", "allow_mmengine_checkpoints"]
