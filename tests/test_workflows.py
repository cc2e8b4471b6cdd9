"""The chains a user runs across our tools, each step fed the previous step's real files:

* the paper's protocol: train_cls.py (C3 ResNet / ResNetV1c on an ImageNet-layout folder
  tree) -> eval.py cls -> convert_weights.py -> train_det.py / train_mmdet.py / train_seg.py
  fine-tuning with the shipped ``_in1k-c3`` configs (every C3 tensor loaded) -> eval.py det /
  mmdet / seg -> infer.py on photographs -> export of the trained
  model (jit.trace and ONNX) run at other sizes;
* train_cls.py and train_det.py stopped by Ctrl-C (SIGINT to the process group) and
  train_seg.py and train_mmdet.py killed with SIGKILL mid-run -> the resume command the
  interrupted run printed (``--resume`` after SIGKILL) -> the uninterrupted run's weights, bit
  for bit -> eval.py -> infer.py.

Everything runs in a folder laid out as a user's (data/, datasets/, weights/, work_dirs/),
with the commands of the README's "Pretraining with C3" section; only the schedule, batch
and image sizes are shrunk on the command line."""
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
import torch

import real_layouts
from c3_dense.weights import load_torch_file

pytest.importorskip("mmpretrain", reason="needs mmpretrain (make test installs it)")
pytest.importorskip("mmseg", reason="needs mmsegmentation (make test installs it)")
pytest.importorskip("detectron2", reason="needs detectron2 (make test installs it)")

pytestmark = pytest.mark.slow  # command lines end to end: make test-fast leaves these out
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = os.path.join(ROOT, "tools")
CONFIGS = os.path.join(ROOT, "configs")


def run(args, cwd, env=None, timeout=900):
    env = dict(os.environ, PYTHONWARNINGS="ignore", **(env or {}))
    result = subprocess.run([sys.executable, *args], cwd=str(cwd), env=env, capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, " ".join(map(str, args)) + "\n" + result.stderr[-4000:]
    return result


@pytest.fixture(scope="module")
def user(tmp_path_factory):
    """A user's working folder: ImageNet-style class folders, COCO and VOC 2012 in their real
    layouts, photographs to run the models on."""
    import c3_dense.mmseg  # noqa: F401  (the mmcv.ops stand-in, before mmseg is used)
    from PIL import Image
    from skimage import data as photos

    work = tmp_path_factory.mktemp("user")
    real_layouts.write_imagenet(str(work / "data"), per_class=2)
    real_layouts.write_coco(str(work / "datasets"), {"train": 4, "val": 2})
    real_layouts.write_voc_segmentation(str(work / "data"))
    (work / "photos").mkdir()
    for name in ("astronaut", "chelsea", "coffee"):
        Image.fromarray(getattr(photos, name)()).save(work / "photos" / f"{name}.jpg")
    (work / "weights").mkdir()
    return work


def refused(args, cwd, env=None):
    """The one ``error:`` line of a command that must stop with exit code 2."""
    env = dict(os.environ, PYTHONWARNINGS="ignore", **(env or {}))
    result = subprocess.run([sys.executable, *args], cwd=str(cwd), env=env, capture_output=True,
                            text=True, timeout=600)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 2 and len(errors) == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return errors[0]


def classify_options(work):
    """The ImageNet config on the 3-class tree: classes named, one epoch of batch 3."""
    return ["--cfg-options"] + [f"{k}={v}" for k, v in real_layouts.imagenet_options().items()]


def pretrain(work, config):
    """Steps 1 of the README: train, then evaluate the classifier; its checkpoint."""
    path = os.path.join(CONFIGS, "mmpretrain", "imagenet", config)
    name = os.path.splitext(config)[0]
    result = run([os.path.join(TOOLS, "train_cls.py"), path] + classify_options(work), work)
    assert "Epoch(train) [1][2/2]" in result.stdout + result.stderr
    checkpoint = work / "work_dirs" / name / "epoch_1.pth"
    evaluated = run([os.path.join(TOOLS, "eval.py"), "cls", path, str(checkpoint)]
                    + classify_options(work), work)
    # Three classes: top-5 cannot be computed, so it is dropped with a line, not a traceback.
    assert "top-5 becomes top-1" in evaluated.stdout
    # The metrics beside the checkpoint they measure, named after it.
    metrics = json.loads((work / "work_dirs" / name / "epoch_1_eval.json").read_text())
    assert set(metrics["metrics"]) == {"accuracy/top1"}
    return checkpoint, load_torch_file(checkpoint)


def close_to(trained, start, what):
    # A few SGD steps move a weight by a few percent; a fresh init would be ~100 % away.
    assert (trained - start).norm() < 0.25 * start.norm(), what


@pytest.fixture(scope="module")
def c3_resnet50(user):
    """Step 1 once for both detection chains: the C3 ResNet-50 classifier and its content."""
    return pretrain(user, "resnet50_8xb64-90e_in1k_c3.py")


def test_pretrain_convert_finetune_evaluate_infer_export_detection(user, c3_resnet50):
    checkpoint, classifier = c3_resnet50
    # The Runner's own checkpoint (message hub, numpy meta) converts as it is.
    weights = user / "weights" / "c3_resnet50_in1k_d2.pkl"
    run([os.path.join(TOOLS, "convert_weights.py"), str(checkpoint), str(weights),
         "--to", "detectron2"], user)
    config = os.path.join(CONFIGS, "detectron2", "COCO-1x", "faster_rcnn_R_50_FPN_c3_in1k-c3.yaml")
    small = ["SOLVER.MAX_ITER", "2", "SOLVER.IMS_PER_BATCH", "2", "SOLVER.WARMUP_ITERS", "1",
             "SOLVER.STEPS", "(100,)", "INPUT.MIN_SIZE_TRAIN", "(64,)", "INPUT.MAX_SIZE_TRAIN",
             "128", "INPUT.MIN_SIZE_TEST", "64", "INPUT.MAX_SIZE_TEST", "128",
             "DATALOADER.NUM_WORKERS", "0", "MODEL.DEVICE", "cpu",
             "MODEL.RPN.POST_NMS_TOPK_TEST", "50"]
    env = {"DETECTRON2_DATASETS": str(user / "datasets")}
    # Weights that do not fit are refused before training, with the reason and the fix.
    for opts, expected in ((["MODEL.C3.WINDOWS", "[14,7,4]"], "MODEL.C3.WINDOWS [28,14,7]"),
                           (["MODEL.WEIGHTS", str(checkpoint)], "mmengine (mmseg/mmpretrain)")):
        error = refused([os.path.join(TOOLS, "train_det.py"), "--config-file", config, *small,
                         "OUTPUT_DIR", str(user / "output" / "refused"), *opts], user, env)
        assert expected in error, error
    out = user / "output" / "coco_c3_in1k"
    run([os.path.join(TOOLS, "train_det.py"), "--config-file", config, *small,
         "OUTPUT_DIR", str(out), "TEST.EVAL_PERIOD", "0", "DATASETS.TEST", "()"], user, env)
    log = (out / "log.txt").read_text()
    assert "c3" not in "".join(line for line in log.splitlines() if "not found" in line)
    final = load_torch_file(out / "model_final.pth")["model"]
    for key in ("res3.c3.enc_fc1.weight", "res4.c3.dec_fc2.weight", "res5.c3.enc_fc2.weight"):
        close_to(final[f"backbone.bottom_up.{key}"],
                 classifier["state_dict"][f"backbone.layer{int(key[3]) - 1}.{key[5:]}"], key)

    evaluated = user / "output" / "coco_eval.json"
    run([os.path.join(TOOLS, "eval.py"), "det", "--config-file", config, "--weights",
         str(out / "model_final.pth"), "--out", str(evaluated), *small], user, env)
    assert "AP50" in json.loads(evaluated.read_text())["summary"]["coco_2017_val"]

    drawn = user / "output" / "det_photos"
    run([os.path.join(TOOLS, "infer.py"), "det", config, str(out / "model_final.pth"),
         str(user / "photos"), "--out", str(drawn), "--opts", *small], user, env)
    predictions = json.loads((drawn / "predictions.json").read_text())
    assert len(predictions["images"]) == 3 and (drawn / "astronaut.png").exists()

    # Export the trained detector's backbone (where C3 runs): traced and ONNX at one size,
    # run at three others, windows not dividing the maps included.
    from detectron2.export import TracingAdapter

    from c3_dense.detectron2.engine import C3Checkpointer, setup_cfg
    from detectron2.modeling import build_model

    cfg = setup_cfg(config, ["MODEL.WEIGHTS", str(out / "model_final.pth"), *small])
    model = build_model(cfg).eval()
    C3Checkpointer(model, complete=True).load(cfg.MODEL.WEIGHTS)
    # (FPN needs sides that are multiples of 32; none of the maps is a multiple of its window.)
    check_exports(model.backbone, (1, 3, 64, 96), [(1, 3, 96, 128), (2, 3, 160, 96),
                                                   (1, 3, 224, 288)], user / "det.onnx",
                  TracingAdapter)


def check_exports(module, export_shape, shapes, path, adapter_class=None):
    """jit.trace and ONNX (dynamic batch, height, width) at ``export_shape``; both equal the
    eager module at ``shapes``."""
    import onnxruntime as ort

    x = torch.randn(*export_shape)
    adapter = adapter_class(module, x) if adapter_class else module
    inputs = adapter.flattened_inputs if adapter_class else (x,)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(adapter, inputs, check_trace=False)
        torch.onnx.export(adapter, inputs, str(path), dynamo=False, opset_version=17,
                          input_names=["x"], dynamic_axes={"x": {0: "b", 2: "h", 3: "w"}})
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for shape in shapes:
        x = torch.randn(*shape)
        with torch.no_grad():
            eager = module(x)
        eager = (list(eager.values()) if isinstance(eager, dict) else list(eager)
                 if isinstance(eager, (tuple, list)) else [eager])
        got_traced = traced(x)
        got_traced = list(got_traced) if isinstance(got_traced, (tuple, list)) else [got_traced]
        got_onnx = session.run(None, {"x": x.numpy()})
        assert len(got_onnx) == len(eager) == len(got_traced)
        for want, by_trace, by_onnx in zip(eager, got_traced, got_onnx):
            scale = want.abs().max().item() + 1e-6
            assert (by_trace - want).abs().max().item() < 1e-4 * scale, shape
            assert np.abs(by_onnx - want.numpy()).max() < 1e-4 * scale, shape


def test_pretrain_convert_finetune_evaluate_infer_export_mmdet(user, c3_resnet50, tmp_path):
    """The same chain in MMDetection: the classifier converted --to mmdet, fine-tuned by the
    shipped COCO ``_c3_in1k-c3`` config (data/coco, mmdet's layout: a link to the COCO tree),
    evaluated with mmdet's CocoMetric, run on photographs by infer.py mmdet, its backbone
    exported."""
    pytest.importorskip("mmdet", reason="needs mmdet (make test installs it)")
    checkpoint, classifier = c3_resnet50
    config = os.path.join(CONFIGS, "mmdet", "faster_rcnn",
                          "faster-rcnn_r50_fpn_1x_coco_c3_in1k-c3.py")
    run([os.path.join(TOOLS, "convert_weights.py"), str(checkpoint),
         str(user / "weights" / "c3_resnet50_in1k_mmdet.pth"), "--to", "mmdet", "--config",
         config], user)
    if not (user / "data" / "coco").exists():
        os.symlink(user / "datasets" / "coco", user / "data" / "coco")
    small = real_layouts.mmdet_small_options(config) + ["train_cfg.val_interval=2"]
    for options, expected in (
            (["model.backbone.c3_windows=[14,7,4]"], "model.backbone.c3_windows=[28,14,7]"),
            ([f"model.backbone.init_cfg.checkpoint={checkpoint}"],
             "a whole model's checkpoint")):
        error = refused([os.path.join(TOOLS, "train_mmdet.py"), config, "--work-dir",
                         str(tmp_path / "refused"), "--cfg-options", *small, *options], user)
        assert expected in error, error
    work_dir = tmp_path / "coco_c3_in1k"
    run([os.path.join(TOOLS, "train_mmdet.py"), config, "--work-dir", str(work_dir),
         "--cfg-options", *small], user)
    state = load_torch_file(work_dir / "epoch_1.pth")["state_dict"]
    for key in ("layer2.c3.enc_fc1.weight", "layer4.c3.dec_fc2.weight", "layer3.5.conv2.weight"):
        close_to(state[f"backbone.{key}"], classifier["state_dict"][f"backbone.{key}"], key)

    evaluated = tmp_path / "coco_eval.json"
    result = run([os.path.join(TOOLS, "eval.py"), "mmdet", config, str(work_dir / "epoch_1.pth"),
                  "--work-dir", str(tmp_path / "eval"), "--out", str(evaluated),
                  "--cfg-options", *[o for o in small if o.startswith("test_")]], user)
    assert "bbox_mAP" in result.stdout
    assert "coco/bbox_mAP_50" in json.loads(evaluated.read_text())["metrics"]

    drawn = tmp_path / "det_photos"
    run([os.path.join(TOOLS, "infer.py"), "mmdet", config, str(work_dir / "epoch_1.pth"),
         str(user / "photos"), "--out", str(drawn), "--cfg-options",
         *[o for o in small if o.startswith("test_")]], user)
    predictions = json.loads((drawn / "predictions.json").read_text())
    assert len(predictions["images"]) == 3 and (drawn / "astronaut.png").exists()

    # Export the fine-tuned backbone (where C3 runs): traced and ONNX at one size, equal to
    # eager at three others (no map side a multiple of its window).
    from c3_dense.mmdet.engine import build_model, load_config
    model = build_model(load_config(config, {"model.backbone.init_cfg": None}), config).eval()
    model.load_state_dict(state)
    check_exports(model.backbone, (1, 3, 64, 96), [(1, 3, 96, 128), (2, 3, 160, 96),
                                                   (1, 3, 224, 288)], tmp_path / "mmdet.onnx")


def test_pretrain_convert_finetune_evaluate_infer_export_segmentation(user):
    checkpoint, classifier = pretrain(user, "resnetv1c50_8xb64-90e_in1k_c3.py")
    run([os.path.join(TOOLS, "convert_weights.py"), str(checkpoint),
         str(user / "weights" / "c3_resnetv1c50_in1k.pth"), "--to", "mmseg"], user)
    config = os.path.join(CONFIGS, "mmseg", "deeplabv2",
                          "deeplabv2_r50-d8_4xb4-20k_voc12aug-512x512_c3_in1k-c3.py")
    small = ["train_cfg.max_iters=2", "default_hooks.checkpoint.interval=2",
             "train_dataloader.batch_size=1", "val_dataloader=None", "val_cfg=None",
             "val_evaluator=None"]
    workers = [f"{loader}.{key}" for loader in ("train_dataloader", "test_dataloader")
               for key in ("num_workers=0", "persistent_workers=False")]
    work_dir = user / "work_dirs" / "voc_c3_in1k"
    for options, expected in (
            (["model.backbone.c3_windows=[14,7,4]"], "model.backbone.c3_windows=[28,14,7]"),
            ([f"model.pretrained={checkpoint}"], "a whole model's checkpoint")):
        error = refused([os.path.join(TOOLS, "train_seg.py"), config, "--work-dir",
                         str(user / "work_dirs" / "refused"), "--cfg-options", *small,
                         *workers, *options], user)
        assert expected in error, error
    run([os.path.join(TOOLS, "train_seg.py"), config, "--work-dir", str(work_dir),
         "--cfg-options", *small, *workers], user)
    state = load_torch_file(work_dir / "iter_2.pth")["state_dict"]
    for key in ("layer2.c3.enc_fc1.weight", "layer4.c3.dec_fc2.weight", "layer3.5.conv2.weight"):
        close_to(state[f"backbone.{key}"], classifier["state_dict"][f"backbone.{key}"], key)

    evaluated = user / "work_dirs" / "voc_eval.json"
    result = run([os.path.join(TOOLS, "eval.py"), "seg", config, str(work_dir / "iter_2.pth"),
                  "--work-dir", str(user / "work_dirs" / "voc_eval"), "--out", str(evaluated),
                  "--cfg-options", *workers[2:]], user)
    assert "mIoU" in result.stdout and "mIoU" in json.loads(evaluated.read_text())["metrics"]

    drawn = user / "work_dirs" / "seg_photos"
    run([os.path.join(TOOLS, "infer.py"), "seg", config, str(work_dir / "iter_2.pth"),
         str(user / "photos" / "coffee.jpg"), "--out", str(drawn)], user)
    predictions = json.loads((drawn / "predictions.json").read_text())
    assert len(predictions["images"]) == 1 and (drawn / "coffee_labels.png").exists()

    # Export the trained segmentor (backbone and DeepLabv2 head, logits at 1/8).
    from c3_dense.mmseg.engine import build_model, load_config
    model = build_model(load_config(config, {"model.pretrained": None}), config).eval()
    model.load_state_dict(state)

    class Logits(torch.nn.Module):
        def __init__(self, segmentor):
            super().__init__()
            self.segmentor = segmentor

        def forward(self, x):
            return self.segmentor._forward(x)

    # (eval() on the wrapper too: ONNX export puts the whole tree back in the wrapper's mode.)
    check_exports(Logits(model).eval(), (1, 3, 64, 96), [(1, 3, 96, 128), (2, 3, 72, 104),
                                                  (1, 3, 120, 88)], user / "seg.onnx")


def _default_ctrl_c():
    """In the child before it starts: SIGINT handled as a terminal's foreground job has it. A
    test run started in the background by a shell (`make test &`) ignores SIGINT, and an
    ignored signal stays ignored in every program it starts, Python included."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def killed_and_resumed(command, base, marker, final, key, env=None, sig=signal.SIGKILL):
    """Train uninterrupted (``base/whole``); train again (``base/killed``), stop it with ``sig``
    as soon as ``marker`` (or a later checkpoint before ``final``) is written there (named in
    its ``last_checkpoint``), then resume it;
    both runs must end at the same weights (``final``'s ``key``), bit for bit.
    ``command(folder, flags)`` is the training command line. SIGKILL: no clean-up at all,
    resumed with ``--resume``. SIGINT: Ctrl-C as a terminal sends it (to the whole process
    group, data-loader workers included); the run must end with exit code 130 and one
    ``interrupted:`` line naming where it stopped and the command that resumes it, which is
    what resumes it here. Returns the resumed run's folder and output."""
    run(command(base / "whole", []), base, env)
    killed = base / "killed"
    process = subprocess.Popen([sys.executable] + command(killed, []), cwd=str(base),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env=dict(os.environ, PYTHONWARNINGS="ignore", **(env or {})),
                               start_new_session=True, preexec_fn=_default_ctrl_c)
    deadline = time.time() + 300
    # Written means recorded in last_checkpoint (both frameworks write that file after the
    # checkpoint): the checkpoint file itself appears before it is complete, and a run killed
    # then has nothing to resume from.
    # ``marker`` or a later checkpoint short of ``final``: on a loaded machine this poll can
    # sleep through the iterations between two checkpoints (a stop after any of them tests
    # the same).
    pointer = killed / "last_checkpoint"

    def written() -> bool:
        named = pointer.read_text().strip() if pointer.exists() else ""
        return bool(named) and (marker in named or not named.endswith(final))

    while not written() and process.poll() is None:
        assert time.time() < deadline, f"no {marker} within 5 minutes"
        time.sleep(0.05)
    os.killpg(process.pid, sig)
    _, stderr = process.communicate(timeout=300)
    assert not (killed / final).exists(), "the run ended before it was stopped"
    resume = command(killed, ["--resume"])
    if sig == signal.SIGINT:
        lines = [line for line in stderr.splitlines() if line.startswith("interrupted:")]
        assert process.returncode == 130 and len(lines) == 1, stderr[-3000:]
        assert "Traceback" not in stderr, stderr[-3000:]
        assert "training stopped after" in lines[0], lines[0]
        assert "its last complete checkpoint is" in lines[0], lines[0]
        printed = shlex.split(lines[0].split("resume with: ")[1])
        assert printed[0] == sys.executable and "--resume" in printed, printed
        resume = printed[1:]
        assert not any(name.endswith(".part") for name in os.listdir(killed))
    resumed = run(resume, base, env)
    whole, after = (load_torch_file(folder / final)[key] for folder in (base / "whole", killed))
    assert whole.keys() == after.keys()
    differing = [k for k in whole if not torch.equal(whole[k], after[k])]
    assert not differing, f"{len(differing)} of {len(whole)} tensors differ, e.g. {differing[0]}"
    return killed, resumed


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory):
    from c3_dense.data import make_demo_dataset
    base = tmp_path_factory.mktemp("demo_data")
    make_demo_dataset(str(base / "c3_demo"), splits={"train": 6, "test": 3})
    return base


def test_a_detector_stopped_by_ctrl_c_resumes_to_the_uninterrupted_result_then_evaluates_and_infers(
        demo_data, tmp_path):
    config = os.path.join(CONFIGS, "detectron2", "Demo", "faster_rcnn_R_18_FPN_c3.yaml")
    # Random multi-scale resizing and flips: what a resumed run must draw again.
    opts = ["SOLVER.MAX_ITER", "6", "SOLVER.CHECKPOINT_PERIOD", "2", "SOLVER.IMS_PER_BATCH",
            "2", "SOLVER.WARMUP_ITERS", "1", "SOLVER.STEPS", "(100,)", "SEED", "0",
            "INPUT.MIN_SIZE_TRAIN", "(96, 112, 128)", "INPUT.RANDOM_FLIP", "horizontal",
            "TEST.EVAL_PERIOD", "0", "DATASETS.TEST", "()", "MODEL.RPN.POST_NMS_TOPK_TEST", "50"]
    env = {"DETECTRON2_DATASETS": str(demo_data)}
    train = [os.path.join(TOOLS, "train_det.py"), "--config-file", config]
    killed, _ = killed_and_resumed(
        lambda folder, flags: train + flags + opts + ["OUTPUT_DIR", str(folder)], tmp_path,
        "model_0000001.pth", "model_final.pth", "model", env, sig=signal.SIGINT)
    final = killed / "model_final.pth"
    evaluated = tmp_path / "eval.json"
    run([os.path.join(TOOLS, "eval.py"), "det", "--config-file", config, "--weights", str(final),
         "--out", str(evaluated), "MODEL.RPN.POST_NMS_TOPK_TEST", "50"], tmp_path, env)
    assert "AP" in json.loads(evaluated.read_text())["summary"]["c3demo_coco_test"]
    images = demo_data / "c3_demo" / "VOC" / "JPEGImages" / "test_00000.jpg"
    run([os.path.join(TOOLS, "infer.py"), "det", config, str(final), str(images), "--out",
         str(tmp_path / "drawn")], tmp_path, env)
    assert (tmp_path / "drawn" / "test_00000.png").exists()


def test_a_killed_segmentor_resumes_to_the_uninterrupted_result_then_evaluates_and_infers(
        demo_data, tmp_path):
    config = os.path.join(CONFIGS, "mmseg", "demo", "deeplabv2_r18-d8_demo_c3.py")
    voc = demo_data / "c3_demo" / "VOC"
    options = ["--cfg-options", "train_cfg.max_iters=6", "train_cfg.val_interval=100",
               "default_hooks.checkpoint.interval=2", "param_scheduler.0.end=6",
               "train_dataloader.batch_size=2"]
    options += [f"{split}_dataloader.dataset.data_root={voc}" for split in ("train", "val", "test")]
    train = [os.path.join(TOOLS, "train_seg.py"), config]
    killed, _ = killed_and_resumed(
        lambda folder, flags: train + ["--work-dir", str(folder)] + flags + options, tmp_path,
        "iter_2.pth", "iter_6.pth", "state_dict")
    final = killed / "iter_6.pth"
    evaluated = tmp_path / "eval.json"
    run([os.path.join(TOOLS, "eval.py"), "seg", config, str(final), "--work-dir",
         str(tmp_path / "eval"), "--out", str(evaluated)] + options, tmp_path)
    assert "mIoU" in json.loads(evaluated.read_text())["metrics"]
    run([os.path.join(TOOLS, "infer.py"), "seg", config, str(final),
         str(voc / "JPEGImages" / "test_00000.jpg"), "--out", str(tmp_path / "drawn")], tmp_path)
    assert (tmp_path / "drawn" / "test_00000_labels.png").exists()


def test_an_mmdet_detector_killed_resumes_to_the_uninterrupted_result(demo_data, tmp_path):
    pytest.importorskip("mmdet", reason="needs mmdet (make test installs it)")
    config = os.path.join(CONFIGS, "mmdet", "demo", "faster-rcnn_r18_fpn_demo_c3.py")
    # The shuffled order of the images: what a resumed run must draw again.
    options = ["--cfg-options", "train_cfg.max_iters=6", "train_cfg.val_interval=100",
               "default_hooks.checkpoint.interval=2", "param_scheduler.0.end=2",
               "train_dataloader.batch_size=2"]
    train = [os.path.join(TOOLS, "train_mmdet.py"), config]
    killed_and_resumed(
        lambda folder, flags: train + ["--work-dir", str(folder)] + flags + options, tmp_path,
        "iter_2.pth", "iter_6.pth", "state_dict",
        env={"DETECTRON2_DATASETS": str(demo_data)})


def test_a_classification_run_stopped_by_ctrl_c_resumes_to_the_uninterrupted_result(tmp_path):
    from c3_dense.data.cifar import write_cifar100_like

    write_cifar100_like(str(tmp_path / "data"), train_per_class=1, test_per_class=1)
    config = os.path.join(CONFIGS, "mmpretrain", "cifar100", "resnet20_1xb128-160e_cifar100_c3.py")
    options = ["--cfg-options", "train_cfg.max_epochs=3", "train_dataloader.batch_size=25",
               "train_dataloader.num_workers=1", "val_dataloader.num_workers=0",
               "test_dataloader.num_workers=0"]
    for loader in ("train_dataloader", "val_dataloader", "test_dataloader"):
        options += [f"{loader}.dataset.data_root={tmp_path / 'data'}",
                    f"{loader}.dataset.verify_md5=False"]
    train = [os.path.join(TOOLS, "train_cls.py"), config]
    _, resumed = killed_and_resumed(
        lambda folder, flags: train + ["--work-dir", str(folder)] + flags + options, tmp_path,
        "epoch_1.pth", "epoch_3.pth", "state_dict", sig=signal.SIGINT)
    assert "resumed epoch" in resumed.stdout + resumed.stderr
