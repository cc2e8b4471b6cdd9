import os

import pytest
import torch

# Keep the suite's thread use predictable on small CI machines.
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: runs command lines end to end (minutes); "
                            "make test-fast leaves these out")
    config.addinivalue_line("markers", "adapter_path: an adapter's one short end-to-end path, "
                            "kept in make test-fast")
