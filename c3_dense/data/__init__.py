"""Framework-free data helpers: the generated demo data set (detection + segmentation)."""
from .demo import DEMO_CLASSES, demo_root, make_demo_dataset

__all__ = ["DEMO_CLASSES", "demo_root", "make_demo_dataset"]
