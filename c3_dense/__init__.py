"""c3_dense: Cross-channel Communication (C3, NeurIPS 2019) for dense prediction.

The core (this namespace, ``c3_dense.core``, ``c3_dense.models``) needs only torch. The
framework adapters live in ``c3_dense.detectron2`` and ``c3_dense.mmseg`` and import their
framework only there.
"""
from .core import C3Block, C3Stage, DiversityProbe, SEBlock, channel_diversity, create_block

__version__ = "0.1.0"
__all__ = ["C3Block", "C3Stage", "SEBlock", "create_block", "channel_diversity", "DiversityProbe"]
