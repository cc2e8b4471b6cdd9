"""End to end through the command lines on a tiny generated data set: train -> validate ->
checkpoint -> resume -> tools/eval.py seg; its mIoU equals a confusion-matrix mIoU computed
here; bad input gives one clear error."""
import glob
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("mmseg", reason="needs mmsegmentation (make test installs it)")

from c3_dense.data import make_demo_dataset  # noqa: E402

pytestmark = pytest.mark.slow  # command lines end to end: make test-fast leaves these out
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "configs", "mmseg", "demo", "deeplabv2_r18-d8_demo_c3.py")


def data_options(voc_root):
    return [f"{split}_dataloader.dataset.data_root={voc_root}" for split in ("train", "val", "test")]


@pytest.fixture(scope="module")
def voc_root(tmp_path_factory):
    base = tmp_path_factory.mktemp("segdata")
    make_demo_dataset(str(base / "c3_demo"), splits={"train": 6, "test": 4})
    return str(base / "c3_demo" / "VOC")


def run(args, timeout=600):
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def train(work_dir, voc_root, iters, extra=(), opts=()):
    options = [f"train_cfg.max_iters={iters}", "train_cfg.val_interval=2",
               "default_hooks.checkpoint.interval=2", f"param_scheduler.0.end={iters}",
               "train_dataloader.batch_size=2", "val_dataloader.batch_size=2",
               *data_options(voc_root), *opts]
    return run([os.path.join("tools", "train_seg.py"), CONFIG, "--work-dir", str(work_dir),
                *extra, "--cfg-options", *options])


def confusion_miou(config, checkpoint, voc_root, num_classes=5):
    import c3_dense.mmseg  # noqa: F401  (first: it stands in for missing compiled mmcv ops)
    from mmseg.apis import inference_model, init_model
    from PIL import Image
    model = init_model(config, checkpoint, device="cpu")
    ids = open(os.path.join(voc_root, "ImageSets", "Segmentation", "test.txt")).read().split()
    confusion = np.zeros((num_classes, num_classes), np.int64)
    for image_id in ids:
        pred = inference_model(model, os.path.join(voc_root, "JPEGImages", f"{image_id}.jpg"))
        pred = pred.pred_sem_seg.data[0].numpy()
        label = np.array(Image.open(os.path.join(voc_root, "SegmentationClass", f"{image_id}.png")))
        keep = label != 255
        confusion += np.bincount(num_classes * label[keep].astype(np.int64) + pred[keep],
                                 minlength=num_classes ** 2).reshape(num_classes, num_classes)
    inter = np.diag(confusion)
    union = confusion.sum(0) + confusion.sum(1) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = inter / union
    return float(np.nanmean(iou) * 100)


@pytest.mark.adapter_path  # this adapter's one short path in make test-fast
def test_train_validate_checkpoint_eval(voc_root, tmp_path):
    # (Resuming: below from a truncated checkpoint, and a SIGKILLed run in test_workflows.py.)
    work = tmp_path / "work"
    first = train(work, voc_root, 2)
    assert first.returncode == 0, first.stderr[-3000:]
    assert (work / "iter_2.pth").exists()
    logs = "\n".join(open(p).read() for p in glob.glob(str(work / "*" / "*.log")))
    assert "mIoU" in logs  # validation ran

    out = tmp_path / "eval.json"
    ev = run([os.path.join("tools", "eval.py"), "seg", CONFIG, str(work / "iter_2.pth"),
              "--work-dir", str(tmp_path / "ev"), "--out", str(out),
              "--cfg-options", *data_options(voc_root)])
    assert ev.returncode == 0, ev.stderr[-3000:]
    result = json.loads(out.read_text())
    assert set(result["metrics"]) >= {"aAcc", "mIoU", "mAcc"}
    assert list(result["per_class"]) == ["background", "zero", "one", "two", "three"]
    assert "mIoU" in ev.stdout and "background" in ev.stdout
    by_hand = confusion_miou(CONFIG, str(work / "iter_2.pth"), voc_root)
    assert result["metrics"]["mIoU"] == pytest.approx(by_hand, abs=0.011)


def _error(result):
    assert result.returncode == 2, result.stderr[-3000:]
    lines = [l for l in result.stderr.splitlines() if l.startswith("error:")]
    assert len(lines) == 1, result.stderr[-3000:]
    return lines[0]


def test_bad_input_is_one_clear_error(voc_root, tmp_path):
    line = _error(train(tmp_path / "w", str(tmp_path / "missing"), 2))
    assert "missing" in line and "does not exist" in line
    line = _error(train(tmp_path / "w", voc_root, 2, opts=["model.decode_head.num_classes=21"]))
    assert "num_classes is 21" in line
    line = _error(train(tmp_path / "w", voc_root, 2, opts=["model.backbone.c3_windos=[8,8,8]"]))
    assert "c3_windos" in line
    line = _error(train(tmp_path / "w", voc_root, 2, extra=["--amp"])) if not \
        __import__("torch").cuda.is_available() else "--amp"
    assert "--amp" in line


def test_checkpoint_from_another_model_is_refused(voc_root, tmp_path):
    import torch
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS

    import c3_dense.mmseg  # noqa: F401
    cfg = Config.fromfile(os.path.join(ROOT, "configs", "mmseg", "demo", "deeplabv2_r18-d8_demo.py"))
    cfg.model.backbone.depth = 34
    with DefaultScope.overwrite_default_scope("mmseg"):
        other = MODELS.build(cfg.model)
    path = tmp_path / "r34.pth"
    torch.save({"state_dict": other.state_dict(), "meta": {}}, path)
    line = _error(run([os.path.join("tools", "eval.py"), "seg", CONFIG, str(path),
                       "--work-dir", str(tmp_path / "ev"), "--cfg-options", *data_options(voc_root)]))
    assert "from another model" in line


def test_torchrun_launcher_on_two_cpu_processes(voc_root, tmp_path):
    options = ["train_cfg.max_iters=2", "train_cfg.val_interval=2",
               "default_hooks.checkpoint.interval=2", "param_scheduler.0.end=2",
               "train_dataloader.batch_size=2", *data_options(voc_root)]
    result = run(["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                  os.path.join("tools", "train_seg.py"), CONFIG, "--launcher", "pytorch",
                  "--work-dir", str(tmp_path), "--cfg-options", *options])
    assert result.returncode == 0, result.stderr[-3000:]
    log = "\n".join(open(p).read() for p in glob.glob(str(tmp_path / "*" / "*.log")))
    assert "Distributed training: True" in log
    assert (tmp_path / "iter_2.pth").exists()


@pytest.fixture(scope="module")
def finished_seg_run(voc_root, tmp_path_factory):
    work = tmp_path_factory.mktemp("segrun")
    result = train(work, voc_root, 4)
    assert result.returncode == 0, result.stderr[-3000:]
    return work


def test_checkpoints_of_other_models_are_refused(voc_root, finished_seg_run, tmp_path):
    import torch
    state = torch.load(finished_seg_run / "iter_4.pth", weights_only=True, map_location="cpu")
    # A detectron2-style checkpoint: other keys altogether.
    torch.save({"model": {"backbone.bottom_up.stem.conv1.weight": torch.zeros(64, 3, 7, 7)}},
               tmp_path / "d2.pth")
    line = _error(train(tmp_path / "w1", voc_root, 2,
                        opts=[f"load_from={tmp_path / 'd2.pth'}"]))
    assert "from another model" in line
    # The C3 model's checkpoint with one extra tensor: refused by eval.py seg too.
    state["state_dict"]["backbone.extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "extra.pth")
    line = _error(run([os.path.join("tools", "eval.py"), "seg", CONFIG, str(tmp_path / "extra.pth"),
                       "--work-dir", str(tmp_path / "ev"), "--cfg-options", *data_options(voc_root)]))
    assert "not in the model" in line and "backbone.extra.weight" in line
    # A plain segmentor's checkpoint under the C3 config is fine for fine-tuning (load_from).
    del state["state_dict"]["backbone.extra.weight"]
    for key in [k for k in state["state_dict"] if ".c3." in k]:
        del state["state_dict"][key]
    torch.save({"state_dict": state["state_dict"]}, tmp_path / "plain.pth")
    ok = train(tmp_path / "w2", voc_root, 1, opts=[f"load_from={tmp_path / 'plain.pth'}"])
    assert ok.returncode == 0, ok.stderr[-3000:]


def test_finished_seg_run_is_not_overwritten(voc_root, finished_seg_run):
    before = (finished_seg_run / "iter_4.pth").read_bytes()
    line = _error(train(finished_seg_run, voc_root, 4))
    assert "already holds a run" in line and "--resume" in line and "--overwrite" in line
    assert (finished_seg_run / "iter_4.pth").read_bytes() == before


def test_seg_resume_skips_a_truncated_newest_checkpoint(voc_root, finished_seg_run, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(finished_seg_run, work)
    (work / "last_checkpoint").write_text(str(work / "iter_4.pth"))  # mmengine's: a full path
    good = (work / "iter_2.pth").read_bytes()
    data = (work / "iter_4.pth").read_bytes()
    (work / "iter_4.pth").write_bytes(data[: len(data) // 3])
    resumed = train(work, voc_root, 6, extra=["--resume"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resume: skipping" in resumed.stderr and "iter_4.pth" in resumed.stderr
    logs = "\n".join(open(p).read() for p in glob.glob(str(work / "*" / "*.log")))
    assert "resumed epoch: 0, iter: 2" in logs
    assert (work / "iter_2.pth").read_bytes() == good
    assert (work / "iter_6.pth").exists()


def test_compile_true_trains_the_same_weights(voc_root, tmp_path):
    # mmengine's `compile` Runner key (compile=True, or a dict of torch.compile options) with
    # our segmentor: Dynamo captures the train step (our blocks on their portable path) and two
    # iterations give the weights two eager iterations give. The "eager" backend runs the
    # captured graphs as they are; test_compile.py checks Inductor's code. Both runs use SGD:
    # AdamW's first steps move every weight by about ±lr whatever the gradient's size, so a
    # gradient of ~0 that rounds to the other sign moves a weight by 2·lr - no tolerance
    # separates that from a wrong gradient, while SGD's steps are proportional to it.
    import torch
    sgd = ["param_scheduler.0.end=4", "optim_wrapper.optimizer.type=SGD",
           "optim_wrapper.optimizer.lr=0.05", "optim_wrapper.optimizer.momentum=0.9"]
    runs = {}
    for name, extra in (("eager", []), ("compiled", ["compile.backend=eager"])):
        result = train(tmp_path / name, voc_root, 2, opts=sgd + extra)
        assert result.returncode == 0, result.stderr[-3000:]
        runs[name] = torch.load(tmp_path / name / "iter_2.pth", weights_only=False,
                                map_location="cpu")["state_dict"]
    log = "".join(p.read_text() for p in (tmp_path / "compiled").glob("*/*.log"))
    assert 'Model has been "compiled"' in log
    got, want = runs["compiled"], runs["eager"]
    assert got.keys() == want.keys() and any(".c3." in k for k in got)
    moved = [k for k in want if ".c3." in k and want[k].is_floating_point()]
    assert moved and all(want[k].abs().sum() > 0 for k in moved)  # the C3 blocks trained
    for key, value in want.items():
        torch.testing.assert_close(got[key], value, rtol=1e-4, atol=1e-6, msg=key)
