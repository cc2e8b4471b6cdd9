"""The command lines (``tools/*.py`` in a checkout; ``c3-<tool>`` or ``python -m c3_dense
<tool>`` when installed). Each module has ``main(argv=None) -> int``; none is imported here,
so that one tool does not load every framework."""

import warnings

# detectron2 and mmengine script functions with torch.jit.script when imported, and torch
# 2.14 deprecates it with a FutureWarning on every command; it is theirs and says nothing
# to our users (our own scripting is tested to work).
warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.* is deprecated",
                        category=FutureWarning)

TOOLS = ("train_det", "train_seg", "train_cls", "train_mmdet", "eval", "infer", "visualize",
         "diversity", "complexity", "convert_weights", "paper_table", "make_demo_data", "demo",
         "setup", "configs")
