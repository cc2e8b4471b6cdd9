"""The framework-free core: only torch is imported here."""
from .c3 import (C3_OPTIONS, FORMS, MESSAGE_IMPLS, C3Block, C3OptionError, channel_affinity,
                 channel_groups, check_c3_option_names, check_c3_options, mix_channels)
from .c3_reference import reference_forward
from .diversity import DiversityProbe, channel_diversity
from .factory import create_block
from .se import SEBlock
from .stage import C3Stage
from .windows import tile_starts, to_windows

__all__ = ["C3Block", "C3OptionError", "C3_OPTIONS", "FORMS", "MESSAGE_IMPLS", "check_c3_options",
           "check_c3_option_names", "SEBlock", "C3Stage", "create_block", "channel_diversity",
           "DiversityProbe", "reference_forward", "channel_affinity", "channel_groups",
           "mix_channels", "tile_starts", "to_windows"]
