"""The frameworks' own entry points on our configs, unchanged: mmseg's, mmdet's and
mmpretrain's ``tools/train.py`` and ``tools/test.py`` (their wheels ship them under
``.mim/tools``, where ``mim train`` finds them), ``mmseg.apis.init_model`` /
``inference_model`` and mmdet's ``DetInferencer`` on the checkpoints those tools wrote, and
detectron2's DefaultTrainer and DefaultPredictor with the two lines
the README shows (``import c3_dense.detectron2``, ``add_c3_config(cfg)``)."""
import glob
import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("mmseg", reason="needs mmsegmentation (make test installs it)")
pytest.importorskip("mmpretrain", reason="needs mmpretrain (make test installs it)")
pytest.importorskip("detectron2", reason="needs detectron2 (make test installs it)")

from c3_dense import model_zoo  # noqa: E402
from c3_dense.data import make_demo_dataset  # noqa: E402
from c3_dense.data.cifar import write_cifar100_like  # noqa: E402

pytestmark = pytest.mark.slow  # command lines end to end: make test-fast leaves these out


def framework_tool(package: str, name: str) -> str:
    module = __import__(package)
    path = os.path.join(os.path.dirname(module.__file__), ".mim", "tools", name)
    assert os.path.isfile(path), f"{package}'s wheel has no .mim/tools/{name}"
    return path


def run(args, cwd):
    return subprocess.run([sys.executable, *args], cwd=str(cwd), capture_output=True,
                          text=True, timeout=900, env=dict(os.environ, PYTHONWARNINGS="ignore"))


def test_mmsegs_own_train_and_test_tools_then_its_inference_api(tmp_path):
    # The demo config as shipped: its data_root is datasets/c3_demo/VOC under the working
    # folder, and custom_imports brings in c3_dense.mmseg.
    make_demo_dataset(str(tmp_path / "datasets" / "c3_demo"), splits={"train": 4, "test": 2})
    config = model_zoo.get_config_file("mmseg/demo/deeplabv2_r18-d8_demo_c3.py")
    trained = run([framework_tool("mmseg", "train.py"), config, "--work-dir", "run",
                   "--cfg-options", "train_cfg.max_iters=2", "train_cfg.val_interval=2",
                   "default_hooks.checkpoint.interval=2", "param_scheduler.0.end=2",
                   "train_dataloader.batch_size=2", "val_dataloader.batch_size=2"], tmp_path)
    assert trained.returncode == 0, trained.stderr[-3000:]
    checkpoint = tmp_path / "run" / "iter_2.pth"
    assert checkpoint.exists()
    tested = run([framework_tool("mmseg", "test.py"), config, str(checkpoint), "--work-dir",
                  "test"], tmp_path)
    assert tested.returncode == 0, tested.stderr[-3000:]
    assert "mIoU" in tested.stdout + tested.stderr
    # mmseg's Python API, as its docs show it; c3_dense.mmseg is imported first where mmcv is
    # mmcv-lite (it puts in place the pure-PyTorch ops mmseg imports at its own import).
    image = sorted(glob.glob(str(tmp_path / "datasets" / "c3_demo" / "VOC" / "JPEGImages" /
                                 "*.jpg")))[0]
    api = run(["-c", "import sys, c3_dense.mmseg; from mmseg.apis import init_model, "
                     "inference_model; model = init_model(sys.argv[1], sys.argv[2], device='cpu'); "
                     "print(type(model.backbone).__name__, "
                     "tuple(inference_model(model, sys.argv[3]).pred_sem_seg.shape))",
               config, str(checkpoint), image], tmp_path)
    assert api.returncode == 0, api.stderr[-3000:]
    assert api.stdout.split()[-3:] == ["C3ResNetV1c", "(128,", "128)"], api.stdout


def test_mmsegs_own_train_tool_names_the_config_key_of_a_bad_c3_option(tmp_path):
    """mmseg's tools/train.py prints a traceback for every bad config; ours ends in a line that
    names the config key and the fix (train_seg.py gives the same as one error line)."""
    config = model_zoo.get_config_file("mmseg/demo/deeplabv2_r18-d8_demo_c3.py")
    for option, key in (("model.backbone.c3_windows=[28,0,7]", "c3_windows[1]: window must be"),
                        ("model.backbone.c3_cfg.reductoin=4", "c3_cfg key 'reductoin' is not a "
                                                               "C3 option")):
        result = run([framework_tool("mmseg", "train.py"), config, "--work-dir", "run",
                      "--cfg-options", option], tmp_path)
        last = result.stderr.strip().splitlines()[-1]
        assert result.returncode != 0 and key in last, result.stderr[-2000:]
        assert "fix it in the backbone's config" in last or "use form, mode, reduction" in last, last


def test_mmpretrains_own_train_and_test_tools(tmp_path):
    write_cifar100_like(str(tmp_path / "data"), train_per_class=1, test_per_class=1)
    config = model_zoo.get_config_file("mmpretrain/cifar100/resnet20_1xb128-160e_cifar100_c3.py")
    options = ["train_cfg.max_epochs=1", "train_dataloader.batch_size=50",
               "val_dataloader.batch_size=100"]
    for loader in ("train_dataloader", "val_dataloader", "test_dataloader"):
        options += [f"{loader}.dataset.data_root={tmp_path / 'data'}",
                    f"{loader}.dataset.verify_md5=False", f"{loader}.num_workers=0"]
    # --no-persistent-workers: mmpretrain's train.py makes loaders persistent unless told,
    # which PyTorch refuses with num_workers=0.
    trained = run([framework_tool("mmpretrain", "train.py"), config, "--work-dir", "run",
                   "--no-persistent-workers", "--cfg-options", *options], tmp_path)
    assert trained.returncode == 0, trained.stderr[-3000:]
    checkpoint = tmp_path / "run" / "epoch_1.pth"
    assert checkpoint.exists()
    tested = run([framework_tool("mmpretrain", "test.py"), config, str(checkpoint),
                  "--work-dir", "test", "--out", "results.pkl", "--cfg-options", *options],
                 tmp_path)
    assert tested.returncode == 0, tested.stderr[-3000:]
    assert "accuracy/top1" in tested.stdout + tested.stderr


def test_mmdets_own_train_and_test_tools_then_its_det_inferencer(tmp_path):
    pytest.importorskip("mmdet", reason="needs mmdet (make test installs it)")
    # The demo config as shipped: data under datasets/c3_demo, custom_imports c3_dense.mmdet.
    make_demo_dataset(str(tmp_path / "datasets" / "c3_demo"), splits={"train": 4, "test": 2})
    config = model_zoo.get_config_file("mmdet/demo/faster-rcnn_r18_fpn_demo_c3.py")
    trained = run([framework_tool("mmdet", "train.py"), config, "--work-dir", "run",
                   "--cfg-options", "train_cfg.max_iters=2", "train_cfg.val_interval=2",
                   "default_hooks.checkpoint.interval=2", "train_dataloader.batch_size=2"],
                  tmp_path)
    assert trained.returncode == 0, trained.stderr[-3000:]
    checkpoint = tmp_path / "run" / "iter_2.pth"
    assert checkpoint.exists()
    # mmdet's test.py imports mmcv.ops at its first line, before custom_imports: with
    # mmcv-lite (no compiled ops) c3_dense.mmdet must come first, as the README shows.
    tested = run(["-c", "import runpy, sys, c3_dense.mmdet; sys.argv = sys.argv[1:]; "
                        "runpy.run_path(sys.argv[0], run_name='__main__')",
                  framework_tool("mmdet", "test.py"), config, str(checkpoint), "--work-dir",
                  "test"], tmp_path)
    assert tested.returncode == 0, tested.stderr[-3000:]
    assert "coco/bbox_mAP" in tested.stdout + tested.stderr
    # mmdet's Python inferencer, as its docs show it (c3_dense.mmdet first where mmcv is
    # mmcv-lite: the pure-PyTorch ops mmdet imports).
    image = sorted(glob.glob(str(tmp_path / "datasets" / "c3_demo" / "VOC" / "JPEGImages" /
                                 "*.jpg")))[0]
    api = run(["-c", "import sys, c3_dense.mmdet; from mmdet.apis import DetInferencer; "
                     "infer = DetInferencer(sys.argv[1], sys.argv[2], device='cpu'); "
                     "out = infer(sys.argv[3], out_dir='shown', no_save_pred=False); "
                     "p = out['predictions'][0]; "
                     "print(type(infer.model.backbone).__name__, len(p['bboxes']), "
                     "len(p['bboxes'][0]) if p['bboxes'] else 4)",
               config, str(checkpoint), image], tmp_path)
    assert api.returncode == 0, api.stderr[-3000:]
    name, boxes, sides = api.stdout.split()[-3:]
    assert name == "C3ResNet" and int(boxes) <= 20 and sides == "4", api.stdout
    assert glob.glob(str(tmp_path / "shown" / "vis" / "*.jpg")), "no drawn image"


DETECTRON2_USER_SCRIPT = """
import sys, cv2
from detectron2.config import get_cfg
from detectron2.engine import DefaultPredictor, DefaultTrainer
import c3_dense.detectron2                      # 1: registers the C3/SE backbones and heads
from c3_dense.detectron2 import add_c3_config

cfg = get_cfg()
add_c3_config(cfg)                              # 2: the MODEL.C3 / MODEL.SE keys
cfg.merge_from_file(sys.argv[1])
cfg.merge_from_list(sys.argv[3:])
trainer = DefaultTrainer(cfg)
trainer.resume_or_load(resume=False)
trainer.train()
cfg.MODEL.WEIGHTS = cfg.OUTPUT_DIR + "/model_final.pth"
instances = DefaultPredictor(cfg)(cv2.imread(sys.argv[2]))["instances"]
print("backbone", type(trainer.model.backbone.bottom_up).__name__, "boxes", len(instances))
"""


def test_detectron2s_default_trainer_and_predictor_with_the_two_lines(tmp_path):
    make_demo_dataset(str(tmp_path / "c3_demo"), splits={"train": 2, "test": 1})
    image = sorted(glob.glob(str(tmp_path / "c3_demo" / "**" / "*.jpg"), recursive=True))[0]
    script = tmp_path / "user_train_net.py"
    script.write_text(DETECTRON2_USER_SCRIPT)
    config = model_zoo.get_config_file("detectron2/Demo/faster_rcnn_R_18_FPN_c3.yaml")
    result = subprocess.run(
        [sys.executable, str(script), config, image, "SOLVER.MAX_ITER", "1",
         "SOLVER.IMS_PER_BATCH", "1", "SOLVER.WARMUP_ITERS", "1", "SOLVER.STEPS", "(100,)",
         "TEST.EVAL_PERIOD", "0", "DATASETS.TEST", "()", "OUTPUT_DIR", str(tmp_path / "out")],
        cwd=str(tmp_path), capture_output=True, text=True, timeout=900,
        env=dict(os.environ, PYTHONWARNINGS="ignore", DETECTRON2_DATASETS=str(tmp_path)))
    assert result.returncode == 0, result.stderr[-3000:]
    words = result.stdout.split()
    assert words[-3:-1] == ["C3ResNet", "boxes"] and int(words[-1]) >= 0, result.stdout[-2000:]
    assert json.loads((tmp_path / "out" / "metrics.json").read_text().splitlines()[-1])
