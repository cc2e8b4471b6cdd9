"""The command lines (``tools/*.py`` in a checkout; ``c3-<tool>`` or ``python -m c3_dense
<tool>`` when installed). Each module has ``main(argv=None) -> int``; none is imported here,
so that one tool does not load every framework."""

TOOLS = ("train_det", "train_seg", "train_cls", "eval", "infer", "visualize", "diversity",
         "complexity", "convert_weights", "paper_table", "make_demo_data", "demo")
