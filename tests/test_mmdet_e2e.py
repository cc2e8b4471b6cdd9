"""MMDetection end to end through our command lines on the generated demo data (its COCO
JSON): train -> validate -> checkpoint -> tools/eval.py mmdet (mmdet's CocoMetric), whose kept
predictions detectron2's COCO evaluator (eval.py det --predictions) scores the same ->
tools/infer.py mmdet on images (mmdet's own API predicts the same) and a video; bad input
gives one clear error."""
import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("mmdet", reason="needs mmdet (make test installs it)")

from c3_dense.data import make_demo_dataset  # noqa: E402

pytestmark = pytest.mark.slow  # command lines end to end: make test-fast leaves these out
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "configs", "mmdet", "demo", "faster-rcnn_r18_fpn_demo_c3.py")


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    base = tmp_path_factory.mktemp("detdata")
    make_demo_dataset(str(base / "c3_demo"), splits={"train": 6, "test": 4})
    return str(base)


def run(args, datasets, timeout=600):
    env = dict(os.environ, PYTHONWARNINGS="ignore", DETECTRON2_DATASETS=datasets)
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def train(work_dir, datasets, extra=(), opts=()):
    options = ["train_cfg.max_iters=2", "train_cfg.val_interval=2",
               "default_hooks.checkpoint.interval=2", "param_scheduler.0.end=2",
               "train_dataloader.batch_size=2", *opts]
    return run([os.path.join("tools", "train_mmdet.py"), CONFIG, "--work-dir", str(work_dir),
                *extra, "--cfg-options", *options], datasets)


@pytest.fixture(scope="module")
def trained(datasets, tmp_path_factory):
    """A two-iteration C3 demo run (validated at its end): its folder."""
    work = tmp_path_factory.mktemp("mmdet_run")
    first = train(work, datasets)
    assert first.returncode == 0, first.stderr[-3000:]
    assert (work / "iter_2.pth").exists()
    return work


@pytest.mark.adapter_path  # this adapter's one short path in make test-fast
def test_train_validate_checkpoint_eval_and_rescored_by_detectron2(datasets, trained,
                                                                   tmp_path):
    work = trained
    logs = "\n".join(p.read_text() for p in work.glob("*/*.log"))
    assert "coco/bbox_mAP" in logs  # validation ran

    ev = run([os.path.join("tools", "eval.py"), "mmdet", CONFIG, str(work / "iter_2.pth"),
              "--work-dir", str(tmp_path / "ev"), "--cfg-options",
              "model.test_cfg.rcnn.score_thr=0.0"], datasets)
    assert ev.returncode == 0, ev.stderr[-3000:]
    result = json.loads((work / "iter_2_eval.json").read_text())
    assert {f"coco/bbox_mAP{s}" for s in ("", "_50", "_75", "_s", "_m", "_l")} <= \
        set(result["metrics"])
    predictions = result["predictions"]
    found = json.loads(open(predictions).read())
    assert found and {d["category_id"] for d in found} <= {1, 2, 3, 4}  # the demo's ids
    pytest.importorskip("detectron2", reason="needs detectron2 (make test installs it)")
    rescored = tmp_path / "rescored.json"
    d2 = run([os.path.join("tools", "eval.py"), "det", "--config-file",
              "Demo/faster_rcnn_R_18_FPN_c3.yaml", "--predictions", predictions, "--out",
              str(rescored)], datasets)
    assert d2.returncode == 0, d2.stderr[-3000:]
    summary = json.loads(rescored.read_text())["summary"]["c3demo_coco_test"]
    for ours, theirs in (("", "AP"), ("_50", "AP50"), ("_75", "AP75")):
        # CocoMetric gives fractions to 3 decimals, detectron2 percentages
        assert abs(result["metrics"][f"coco/bbox_mAP{ours}"] * 100 - summary[theirs]) <= 0.051


def _error(result):
    assert result.returncode == 2, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    return lines[0]


def test_bad_input_is_one_clear_error(datasets, trained, tmp_path):
    line = _error(train(tmp_path / "w", str(tmp_path / "missing")))
    assert "c3_demo" in line and "does not exist" in line and "make_demo_data" in line
    line = _error(train(tmp_path / "w", datasets,
                        opts=["model.roi_head.bbox_head.num_classes=20"]))
    assert "num_classes is 20" in line and "4 classes" in line
    line = _error(train(tmp_path / "w", datasets, opts=["model.backbone.c3_windos=[8,8,8]"]))
    assert "c3_windos" in line and "C3ResNet" in line
    line = _error(train(tmp_path / "w", datasets, opts=["model.backbone.c3_windows=[16,0,4]"]))
    assert "c3_windows[1]" in line
    if not __import__("torch").cuda.is_available():
        assert "--amp" in _error(train(tmp_path / "w", datasets, extra=["--amp"]))
    real = os.path.join(ROOT, "configs", "mmdet", "faster_rcnn",
                        "faster-rcnn_r50_fpn_1x_coco_c3.py")
    coco = tmp_path / "data" / "coco"
    for sub in ("annotations", "train2017", "val2017"):
        (coco / sub).mkdir(parents=True)
    line = _error(run([os.path.join("tools", "train_mmdet.py"), real, "--work-dir",
                       str(tmp_path / "w"), "--cfg-options",
                       f"train_dataloader.dataset.data_root={coco}/"], datasets))
    assert "instances_train2017.json does not exist" in line
    # An evaluation of another model's checkpoint: the C3 run's under the plain config.
    line = _error(run([os.path.join("tools", "eval.py"), "mmdet",
                       CONFIG.replace("_c3.py", ".py"), str(trained / "iter_2.pth"),
                       "--out", str(tmp_path / "plain_eval.json")], datasets))
    assert "from another model" in line and "c3" in line


def test_torchrun_launcher_on_two_cpu_processes(datasets, tmp_path):
    """The usual multi-GPU launch (torchrun + --launcher pytorch), on two CPU processes: DDP
    over gloo, every C3 parameter used (no find_unused_parameters)."""
    result = run(["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                  os.path.join("tools", "train_mmdet.py"), CONFIG, "--launcher", "pytorch",
                  "--work-dir", str(tmp_path), "--cfg-options", "train_cfg.max_iters=2",
                  "train_cfg.val_interval=2", "default_hooks.checkpoint.interval=2",
                  "param_scheduler.0.end=2", "train_dataloader.batch_size=2"], datasets)
    assert result.returncode == 0, result.stderr[-3000:]
    log = "\n".join(p.read_text() for p in tmp_path.glob("*/*.log"))
    assert "Distributed training: True" in log and "coco/bbox_mAP" in log
    assert (tmp_path / "iter_2.pth").exists()


def test_infer_images_and_a_video_as_mmdet_s_own_api_predicts(datasets, trained, tmp_path):
    """tools/infer.py mmdet: drawn images and the JSON of every detection above the threshold,
    the same detections as mmdet's own init_detector + inference_detector give; a video's
    frames drawn into a .webm."""
    import cv2
    import numpy as np

    import glob
    images = sorted(glob.glob(os.path.join(datasets, "c3_demo", "VOC", "JPEGImages",
                                           "test_*.jpg")))[:2]
    out = tmp_path / "drawn"
    result = run([os.path.join("tools", "infer.py"), "mmdet", CONFIG,
                  str(trained / "iter_2.pth"), *images, "--out", str(out), "--score-thresh",
                  "0.05"], datasets)
    assert result.returncode == 0, result.stderr[-3000:]
    records = json.loads((out / "predictions.json").read_text())["images"]
    assert [r["image"] for r in records] == images
    import c3_dense.mmdet  # noqa: F401  (the mmcv.ops stand-in, before mmdet's API)
    from mmdet.apis import inference_detector, init_detector
    model = init_detector(CONFIG, str(trained / "iter_2.pth"), device="cpu",
                          cfg_options={"model.test_cfg.rcnn.score_thr": 0.05})
    for record in records:
        found = inference_detector(model, record["image"]).pred_instances
        found = found[found.scores >= 0.05]
        assert len(record["detections"]) == len(found) > 0
        for ours, theirs, score in zip(record["detections"], found.bboxes.tolist(),
                                       found.scores.tolist()):
            assert np.allclose(ours["box_xyxy"], theirs, atol=0.01)
            assert abs(ours["score"] - score) < 1e-4
        drawn = cv2.imread(str(out / record["drawn"]))[:, :, ::-1].astype(int)
        original = cv2.imread(record["image"])[:, :, ::-1].astype(int)
        assert drawn.shape == original.shape and np.abs(drawn - original).max() > 100  # boxes

    video = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 5, (128, 128))
    for path in images * 2:
        writer.write(cv2.imread(path))
    writer.release()
    result = run([os.path.join("tools", "infer.py"), "mmdet", CONFIG,
                  str(trained / "iter_2.pth"), "--video", str(video), "--out",
                  str(tmp_path / "video")], datasets)
    assert result.returncode == 0, result.stderr[-3000:]
    clip, = json.loads((tmp_path / "video" / "predictions.json").read_text())["videos"]
    assert len(clip["frames"]) == 4 and (tmp_path / "video" / "clip.webm").stat().st_size > 0
