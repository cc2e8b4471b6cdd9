"""The framework-free core: only torch is imported here."""
from .c3 import C3Block, channel_affinity, mix_channels
from .c3_reference import reference_forward
from .diversity import DiversityProbe, channel_diversity
from .factory import create_block
from .se import SEBlock
from .windows import tile_starts, to_windows

__all__ = ["C3Block", "SEBlock", "create_block", "channel_diversity", "DiversityProbe",
           "reference_forward", "channel_affinity", "mix_channels", "tile_starts", "to_windows"]
