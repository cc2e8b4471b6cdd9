"""c3_dense.weights, the one reader of checkpoints: what it admits (tensors, numpy, the
training logs mmengine pickles, with or without mmengine installed), what it refuses and how
it says so, and the fit checks that name what differs between weights and a model."""
import os
import subprocess
import sys

import pytest
import torch

from c3_dense import C3Block
from c3_dense.weights import (UnsafeWeightsFile, checkpoint_origin, describe_misfit,
                              first_readable, load_torch_file, resume_candidates,
                              upgrade_se_keys, windows_of_weights)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_file_that_asks_for_code_is_refused_naming_what_it_asks_for(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"w": torch.ones(1)}, "extra": _RunsCode(marker)}, path)
    with pytest.raises(UnsafeWeightsFile) as info:
        load_torch_file(str(path))
    message = str(info.value)
    assert "system" in message and "refusing to unpickle" in message and "\n" not in message
    assert not marker.exists()


def _runner_like_checkpoint(path):
    """What mmengine's Runner saves: weights, meta, and the message hub's HistoryBuffers."""
    from mmengine.logging import HistoryBuffer
    import numpy as np

    logs = HistoryBuffer([0.5, 0.25], [1, 1])
    torch.save({"meta": {"epoch": 1, "seed": np.int64(3)}, "state_dict": {"w": torch.ones(2)},
                "message_hub": {"log_scalars": {"train/loss": logs},
                                "runtime_info": {"epoch": 1}}}, path)


def test_a_training_checkpoint_loads_with_and_without_mmengine(tmp_path):
    pytest.importorskip("mmengine", reason="needs mmengine to write the checkpoint")
    path = tmp_path / "epoch_1.pth"
    _runner_like_checkpoint(path)
    loaded = load_torch_file(str(path))
    assert torch.equal(loaded["state_dict"]["w"], torch.ones(2))
    assert loaded["message_hub"]["log_scalars"]["train/loss"].current() == 0.25
    assert checkpoint_origin(loaded) == "mmengine"
    # A detectron2-only install (no mmengine) still reads it: the logs become plain data.
    code = ("import sys; sys.modules['mmengine'] = None\n"
            "from c3_dense.weights import load_torch_file\n"
            f"ckpt = load_torch_file({str(path)!r})\n"
            "print(ckpt['state_dict']['w'].tolist(), type(ckpt['message_hub']['log_scalars']"
            "['train/loss']).__name__)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["[1.0,", "1.0]", "_TrainingLogStandIn"]


def _c3_state(prefix, windows, reduction=8):
    state = {}
    for stage, window in zip(("layer2", "layer3", "layer4"), windows):
        block = C3Block(window, reduction=reduction)
        state.update({f"{prefix}{stage}.c3.{k}": v for k, v in block.state_dict().items()})
    state[f"{prefix}layer1.0.conv1.weight"] = torch.zeros(64, 64, 1, 1)
    return state


def test_misfits_are_named_most_telling_first():
    model = _c3_state("", (14, 7, 4))
    weights = _c3_state("", (28, 14, 7))
    text = describe_misfit(model, weights)
    assert text.startswith("the C3 windows differ")
    assert "layer2.c3 28×28 in the weights, 14×14 in the model" in text
    assert windows_of_weights(model, weights) == "[28,14,7]"
    # Names paired by suffix (a detector's model keys, a backbone file's keys).
    detector = _c3_state("backbone.bottom_up.", (14, 7, 4))
    assert windows_of_weights(detector, weights) == "[28,14,7]"
    # Same windows, another reduction: the bottleneck differs.
    text = describe_misfit(model, _c3_state("", (14, 7, 4), reduction=4))
    assert text.startswith("the C3 bottlenecks") and windows_of_weights(
        model, _c3_state("", (14, 7, 4), reduction=4)) is None
    # Stems.
    deep = {"stem.0.weight": torch.zeros(32, 3, 3, 3)}
    seven = {"conv1.weight": torch.zeros(64, 3, 7, 7)}
    assert describe_misfit(deep, seven) == ("the weights have a 7×7 stem, the model a deep "
                                            "(ResNetV1c) one")
    # Widths, extra blocks, missing tensors; a plain checkpoint may lack the new blocks.
    plain = {k: v for k, v in model.items() if ".c3." not in k}
    assert describe_misfit(plain, model).startswith("its C3/SE blocks (24 tensors")
    assert describe_misfit(model, plain) == ""
    assert "missing" in describe_misfit(model, plain, allow_new_blocks=False)
    wide = dict(plain, **{"layer1.0.conv1.weight": torch.zeros(128, 64, 1, 1)})
    assert "other shapes" in describe_misfit(plain, wide) and "(128, 64, 1, 1)" in \
        describe_misfit(plain, wide)
    assert describe_misfit(model, model) == ""


def test_se_tensors_under_the_earlier_keys_are_named_and_moved():
    # SE now sits in each framework's slot after a block's last norm; earlier versions kept
    # it at <block>.se.*. A real mmpretrain SE-ResNet's keys, not a hand-made list.
    pytest.importorskip("mmpretrain", reason="needs mmpretrain (make test installs it)")
    import c3_dense.mmpretrain  # noqa: F401
    from c3_dense.mmpretrain.backbones import ResNetSE

    own = ResNetSE(depth=18).state_dict()
    earlier = {k.replace(".drop_path.se.", ".se."): v for k, v in own.items()}
    assert earlier.keys() != own.keys()
    text = describe_misfit(own, earlier)
    assert text.startswith("its SE tensors have this package's earlier names (e.g. layer1.0.se.")
    assert "now layer1.0.drop_path.se." in text and "upgrade_se_keys" in text
    moved = upgrade_se_keys(own, earlier)
    assert list(moved) == list(own) and describe_misfit(own, moved) == ""
    # Keys that are where the model keeps them stay (a CIFAR block's own ``se``).
    assert upgrade_se_keys({"layer1.0.se.fc1.weight": 0}, {"layer1.0.se.fc1.weight": 1}) == {
        "layer1.0.se.fc1.weight": 1}


def test_a_last_checkpoint_naming_a_deleted_file_is_said(tmp_path, capsys):
    torch.save({"state_dict": {}}, tmp_path / "epoch_1.pth")
    named = str(tmp_path / "epoch_2.pth")  # written into last_checkpoint, then deleted
    found = first_readable(resume_candidates(str(tmp_path), named, r"epoch_\d+\.pth"))
    assert found[0] == str(tmp_path / "epoch_1.pth")
    warning = capsys.readouterr().err
    assert f"resume: skipping {named}" in warning and "does not exist" in warning
