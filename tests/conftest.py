import os
import shutil

import pytest
import torch

# Keep the suite's thread use predictable on small CI machines (OMP_NUM_THREADS, where set,
# decides instead).
if "OMP_NUM_THREADS" not in os.environ:
    torch.set_num_threads(min(2, os.cpu_count() or 1))

# The longest modules first, longest to shortest (as measured): make test's two processes
# take a module at a time, and a long one started last would leave the other process idle.
LONG_MODULES = ("test_workflows.py", "test_demo_pictures.py", "test_detectron2_e2e.py",
                "test_mmpretrain.py", "test_protocol.py", "test_faults.py",
                "test_real_configs.py", "test_bad_input.py",
                "test_tools.py", "test_mmseg_e2e.py", "test_framework_tools.py",
                "test_detectron2_backbone.py", "test_compile.py", "test_package.py")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="module", autouse=True)
def _module_dirs_removed_when_passed(request, tmp_path_factory):
    """Removes the folders a module's fixtures made (training runs, checkpoints of real-size
    models: gigabytes over the suite) once its tests have passed, so the disk holds one module's
    files at a time; a module with a failure keeps them to look at. Each test's own ``tmp_path``
    goes when it passes (make test sets ``tmp_path_retention_policy=failed``)."""
    base = tmp_path_factory.getbasetemp()
    before = set(base.iterdir())
    failures = request.session.testsfailed
    yield
    if request.session.testsfailed == failures:
        for path in set(base.iterdir()) - before:
            shutil.rmtree(path, ignore_errors=True)


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
