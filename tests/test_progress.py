"""No silent minute: the long command lines print progress with a count, the total and the
time left throughout each long step. C3_PROGRESS_SECONDS=0 asks for a line at every step
without one, so the lines are checked by their content and order, never by the clock."""
import os
import re
import subprocess
import sys

import pytest

from c3_dense.errors import UserInputError
from c3_dense.progress import Pace, clock, counted, progress_seconds

pytestmark = pytest.mark.slow
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_lines_come_by_time_with_the_count_and_the_time_left(monkeypatch):
    lines = []
    assert list(counted(range(4), "work", write=lines.append, seconds=0)) == [0, 1, 2, 3]
    assert [line.split(",")[0] for line in lines] == ["work: 1/4", "work: 2/4", "work: 3/4",
                                                     "work: 4/4"]
    assert all(re.search(r", eta \d+:\d\d:\d\d$", line) for line in lines)
    lines.clear()  # a long period: only the last line
    list(counted(range(4), "work", write=lines.append, seconds=3600))
    assert lines == ["work: 4/4, eta 0:00:00"]
    assert clock(3725) == "1:02:05" and Pace(10, seconds=0).eta(0) == "?"
    monkeypatch.setenv("C3_PROGRESS_SECONDS", "2.5")
    assert progress_seconds() == 2.5
    monkeypatch.setenv("C3_PROGRESS_SECONDS", "soon")
    with pytest.raises(UserInputError, match="C3_PROGRESS_SECONDS='soon' is not a number"):
        progress_seconds()


def run(args, cwd, **env):
    result = subprocess.run([sys.executable, "-m", "c3_dense", *args], cwd=str(cwd),
                            capture_output=True, text=True, timeout=900,
                            env=dict(os.environ, PYTHONWARNINGS="ignore",
                                     C3_PROGRESS_SECONDS="0", **env))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def counts(pattern, text):
    """(done, total) of every line matching ``pattern`` (two groups), in order."""
    return [(int(a), int(b)) for a, b in re.findall(pattern, text)]


def every_step(found, total, last=None):
    """The counts go 1, 2, ... up to ``last`` (default total - 1), each of ``total``."""
    last = total - 1 if last is None else last
    return found == [(k, total) for k in range(1, last + 1)]


def test_the_long_command_lines_say_how_far_they_are_throughout(tmp_path):
    pytest.importorskip("detectron2", reason="needs detectron2 (make test installs it)")
    pytest.importorskip("mmseg", reason="needs mmsegmentation (make test installs it)")
    data = tmp_path / "data"
    made = run(["make_demo_data", "--root", str(data / "c3_demo")], tmp_path)
    from c3_dense.data.demo import DEMO_SPLITS
    for split, size in DEMO_SPLITS.items():
        found = counts(rf"demo data, {split} images: (\d+)/(\d+), eta \d+:\d\d:\d\d", made)
        assert every_step(found, size, last=size), (split, found[:3])

    # detection: a line per iteration between detectron2's metrics (every 20), then the
    # evaluation's images
    trained = run(["train_det", "--config-file", "Demo/faster_rcnn_R_18_FPN_c3.yaml",
                   "SOLVER.MAX_ITER", "4", "SOLVER.IMS_PER_BATCH", "1", "SOLVER.WARMUP_ITERS",
                   "1", "SOLVER.STEPS", "(100,)", "TEST.EVAL_PERIOD", "0", "OUTPUT_DIR", "det"],
                  tmp_path, DETECTRON2_DATASETS=str(data))
    iterations = counts(r"progress: iteration (\d+)/(\d+), eta \d+:\d\d:\d\d, total_loss", trained)
    assert every_step(iterations, 4), iterations
    tested = counts(r"progress: inference on c3demo_\w+, (\d+)/(\d+) images, eta", trained)
    assert tested and every_step(tested, tested[0][1]), tested
    assert trained.index("iteration 3/4") < trained.index("images, eta")
    evaluated = run(["eval", "det", "--config-file", "Demo/faster_rcnn_R_18_FPN_c3.yaml",
                     "--weights", "det/model_final.pth"], tmp_path,
                    DETECTRON2_DATASETS=str(data))
    assert counts(r"progress: inference on c3demo_\w+, (\d+)/(\d+) images", evaluated) == tested

    # segmentation: mmengine's own form, training then validation; then the test's batches
    voc = data / "c3_demo" / "VOC"
    roots = [f"{split}_dataloader.dataset.data_root={voc}" for split in ("train", "val", "test")]
    trained = run(["train_seg", "mmseg/demo/deeplabv2_r18-d8_demo_c3.py", "--work-dir", "seg",
                   "--cfg-options", "train_cfg.max_iters=4", "train_cfg.val_interval=2",
                   "default_hooks.checkpoint.interval=4", "default_hooks.logger.interval=50",
                   "param_scheduler.0.end=4", "train_dataloader.batch_size=1",
                   "val_dataloader.batch_size=1", *roots], tmp_path)
    iterations = counts(r"Iter\(train\) \[\s*(\d+)/(\d+)\]  eta: \d+:\d\d:\d\d", trained)
    assert every_step(iterations, 4), iterations
    validated = counts(r"Iter\(val\) \[\s*(\d+)/(\d+)\]  eta: \d+:\d\d:\d\d", trained)
    batches = DEMO_SPLITS["test"]
    assert validated == [(k, batches) for k in range(1, batches)] * 2, validated
    tested = run(["eval", "seg", "mmseg/demo/deeplabv2_r18-d8_demo_c3.py", "seg/iter_4.pth",
                  "--work-dir", "seg_eval", "--cfg-options", "test_dataloader.batch_size=1",
                  *roots], tmp_path)
    assert every_step(counts(r"Iter\(test\) \[\s*(\d+)/(\d+)\]  eta:", tested), batches)


def test_classification_training_says_how_far_it_is_throughout(tmp_path):
    pytest.importorskip("mmpretrain", reason="needs mmpretrain (make test installs it)")
    from c3_dense.data.cifar import write_cifar100_like
    write_cifar100_like(str(tmp_path / "data"), train_per_class=1, test_per_class=1)
    options = ["train_cfg.max_epochs=1", "train_dataloader.batch_size=25",
               "val_dataloader.batch_size=25", "train_dataloader.num_workers=0",
               "val_dataloader.num_workers=0", "test_dataloader.num_workers=0"]
    for loader in ("train_dataloader", "val_dataloader", "test_dataloader"):
        options += [f"{loader}.dataset.data_root={tmp_path / 'data'}",
                    f"{loader}.dataset.verify_md5=False"]
    trained = run(["train_cls", "mmpretrain/cifar100/resnet20_1xb128-160e_cifar100_c3.py",
                   "--work-dir", "cls", "--cfg-options", *options], tmp_path)
    # an epoch of 100 images in batches of 25: the iterations, then the test set's batches
    assert every_step(counts(r"Iter\(train\) \[\s*(\d+)/(\d+)\]  eta: \d+:\d\d:\d\d", trained), 4)
    assert every_step(counts(r"Iter\(val\) \[\s*(\d+)/(\d+)\]  eta: \d+:\d\d:\d\d", trained), 4)


def test_mmdet_training_and_evaluation_say_how_far_they_are_throughout(tmp_path):
    pytest.importorskip("mmdet", reason="needs mmdet (make test installs it)")
    from c3_dense.data import make_demo_dataset
    make_demo_dataset(str(tmp_path / "data" / "c3_demo"), splits={"train": 4, "test": 6})
    env = {"DETECTRON2_DATASETS": str(tmp_path / "data")}
    config = "mmdet/demo/faster-rcnn_r18_fpn_demo_c3.py"
    trained = run(["train_mmdet", config, "--work-dir", "det", "--cfg-options",
                   "train_cfg.max_iters=4", "train_cfg.val_interval=2",
                   "default_hooks.checkpoint.interval=4", "default_hooks.logger.interval=50",
                   "train_dataloader.batch_size=1", "val_dataloader.batch_size=1"], tmp_path,
                  **env)
    assert every_step(counts(r"Iter\(train\) \[\s*(\d+)/(\d+)\]  eta: \d+:\d\d:\d\d", trained), 4)
    validated = counts(r"Iter\(val\) \[\s*(\d+)/(\d+)\]  eta: \d+:\d\d:\d\d", trained)
    assert validated == [(k, 6) for k in range(1, 6)] * 2, validated
    tested = run(["eval", "mmdet", config, "det/iter_4.pth", "--work-dir", "det_eval",
                  "--cfg-options", "test_dataloader.batch_size=1"], tmp_path, **env)
    assert every_step(counts(r"Iter\(test\) \[\s*(\d+)/(\d+)\]  eta:", tested), 6)
