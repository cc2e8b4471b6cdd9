import os

import pytest
import torch

# Keep the suite's thread use predictable on small CI machines (OMP_NUM_THREADS, where set,
# decides instead).
if "OMP_NUM_THREADS" not in os.environ:
    torch.set_num_threads(min(2, os.cpu_count() or 1))

# The longest modules first, longest to shortest (as measured): make test's two processes
# take a module at a time, and a long one started last would leave the other process idle.
LONG_MODULES = ("test_workflows.py", "test_demo_pictures.py", "test_detectron2_e2e.py",
                "test_mmpretrain.py", "test_real_configs.py", "test_bad_input.py",
                "test_tools.py", "test_mmseg_e2e.py", "test_framework_tools.py",
                "test_detectron2_backbone.py", "test_compile.py", "test_package.py")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: runs command lines end to end (minutes); "
                            "make test-fast leaves these out")
    config.addinivalue_line("markers", "adapter_path: an adapter's one short end-to-end path, "
                            "kept in make test-fast")


def pytest_collection_modifyitems(config, items):
    def rank(item):
        name = os.path.basename(str(item.fspath))
        return LONG_MODULES.index(name) if name in LONG_MODULES else len(LONG_MODULES)
    items.sort(key=rank)  # stable: each module keeps its own order
