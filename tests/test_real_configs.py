"""The shipped VOC / COCO / Cityscapes configs as a user runs them: from a working folder that
holds the data in its real layout (datasets/, data/) and the ImageNet weights in their real
formats (weights/), two training iterations on tiny data, then the configs' own evaluation
(detectron2, MMDetection, mmseg).
Only the schedule, batch size and image sizes are shrunk on the command line."""
import json
import os
import subprocess
import sys

import pytest
import torch

import real_layouts

pytestmark = pytest.mark.slow  # command lines end to end: make test-fast leaves these out
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
D2 = os.path.join(ROOT, "configs", "detectron2")
SEG = os.path.join(ROOT, "configs", "mmseg", "deeplabv2")
MMDET = os.path.join(ROOT, "configs", "mmdet", "faster_rcnn")


def run(args, cwd, env=None, timeout=900):
    env = dict(os.environ, PYTHONWARNINGS="ignore", **(env or {}))
    return subprocess.run([sys.executable, *args], cwd=str(cwd), env=env, capture_output=True,
                          text=True, timeout=timeout)


# ------------------------------------------------------------------------------- detectron2
@pytest.fixture(scope="module")
def det_workdir(tmp_path_factory):
    pytest.importorskip("detectron2", reason="needs detectron2 (make test installs it)")
    work = tmp_path_factory.mktemp("det_user")
    datasets = work / "datasets"
    real_layouts.write_voc_detection(str(datasets), 2007, {"trainval": 4, "test": 2})
    real_layouts.write_voc_detection(str(datasets), 2012, {"trainval": 2}, seed=1)
    real_layouts.write_coco(str(datasets), {"train": 4, "val": 2})
    (work / "weights").mkdir()
    real_layouts.write_msra_pkl(str(work / "weights" / "R-50.pkl"))
    real_layouts.write_torchvision_pkl(str(work / "weights" / "R-50-torchvision.pkl"))
    return work


SMALL_DET = ["SOLVER.MAX_ITER", "2", "SOLVER.IMS_PER_BATCH", "2", "SOLVER.WARMUP_ITERS", "1",
             "SOLVER.STEPS", "(100,)", "INPUT.MIN_SIZE_TRAIN", "(64,)", "INPUT.MAX_SIZE_TRAIN",
             "128", "INPUT.MIN_SIZE_TEST", "64", "INPUT.MAX_SIZE_TEST", "128",
             "DATALOADER.NUM_WORKERS", "0", "MODEL.DEVICE", "cpu",
             "MODEL.RPN.POST_NMS_TOPK_TEST", "50"]


def train_det(work, config, out, *opts):
    return run([os.path.join(ROOT, "tools", "train_det.py"), "--config-file",
                os.path.join(D2, config), *SMALL_DET, "OUTPUT_DIR", str(out), *opts], work,
               env={"DETECTRON2_DATASETS": str(work / "datasets")})


def _summary(out):
    return json.loads((out / "final_metrics.json").read_text())["summary"]


@pytest.mark.parametrize("config,weights,test_set,metric", [
    # MSRA's Caffe2-named ImageNet .pkl, the configs' default file name.
    ("PascalVOC07/faster_rcnn_R_50_C4_c3.yaml", None, "voc_2007_test", "AP50"),
    ("PascalVOC0712/faster_rcnn_R_50_FPN_se.yaml", "weights/R-50-torchvision.pkl",
     "voc_2007_test", "AP50"),
    ("COCO-1x/faster_rcnn_R_50_C4.yaml", "weights/R-50-torchvision.pkl", "coco_2017_val", "AP"),
])
def test_real_detectron2_configs_train_and_evaluate(det_workdir, tmp_path, config, weights,
                                                    test_set, metric):
    import pickle
    out = tmp_path / "out"
    extra = ["MODEL.WEIGHTS", weights] if weights else []
    result = train_det(det_workdir, config, out, *extra)
    assert result.returncode == 0, result.stderr[-3000:]
    assert metric in _summary(out)[test_set]
    # FREEZE_AT 2 keeps the stem as loaded: it must be the file's, whatever its naming.
    with open(det_workdir / (weights or "weights/R-50.pkl"), "rb") as f:
        source = pickle.load(f)
    stem = source["model"]["stem.conv1.weight"] if "model" in source else source["conv1_w"]
    final = torch.load(out / "model_final.pth", weights_only=True)["model"]
    key = next(k for k in final if k.endswith("stem.conv1.weight"))
    assert torch.equal(final[key], torch.from_numpy(stem))


def test_coco_c3_fine_tunes_from_our_own_c3_checkpoint(det_workdir, tmp_path):
    first = tmp_path / "c3_1x"
    result = train_det(det_workdir, "COCO-1x/faster_rcnn_R_50_FPN_c3.yaml", first,
                       "DATASETS.TEST", "()")
    assert result.returncode == 0, result.stderr[-3000:]
    second = tmp_path / "c3_3x"
    result = train_det(det_workdir, "COCO-3x/faster_rcnn_R_50_FPN_c3.yaml", second,
                       "MODEL.WEIGHTS", str(first / "model_final.pth"))
    assert result.returncode == 0, result.stderr[-3000:]
    start = torch.load(first / "model_final.pth", weights_only=True)["model"]
    assert any(".c3." in k for k in start)
    assert "AP" in _summary(second)["coco_2017_val"]
    # Every tensor of our checkpoint was used: nothing "not found" and nothing unused.
    log = (second / "log.txt").read_text()
    assert "not found in the checkpoint" not in log and "not used in the model" not in log


# The paper's protocol (classify -> convert -> these _in1k-c3 configs) from train_cls.py's real
# checkpoints: tests/test_workflows.py.


# ------------------------------------------------------------------------------------ mmseg
@pytest.fixture(scope="module")
def seg_workdir(tmp_path_factory):
    pytest.importorskip("mmseg", reason="needs mmsegmentation (make test installs it)")
    import c3_dense.mmseg  # noqa: F401  (the mmcv.ops stand-in, before mmseg is used)
    work = tmp_path_factory.mktemp("seg_user")
    real_layouts.write_voc_segmentation(str(work / "data"))
    real_layouts.write_cityscapes(str(work / "data"))
    (work / "weights").mkdir()
    real_layouts.write_mmseg_resnet_v1c(str(work / "weights" / "resnet50_v1c.pth"))
    return work


SMALL_SEG = ["train_cfg.max_iters=2", "train_cfg.val_interval=2",
             "default_hooks.checkpoint.interval=2", "train_dataloader.batch_size=1",
             "train_dataloader.num_workers=0", "train_dataloader.persistent_workers=False"]
NO_WORKERS = ["val_dataloader.num_workers=0", "val_dataloader.persistent_workers=False",
              "test_dataloader.num_workers=0", "test_dataloader.persistent_workers=False"]


def train_seg(work, config, work_dir, *options):
    return run([os.path.join(ROOT, "tools", "train_seg.py"), os.path.join(SEG, config),
                "--work-dir", str(work_dir), "--cfg-options", *SMALL_SEG, *options], work)


def test_voc_c3_deeplabv2_from_imagenet_resnet_v1c(seg_workdir, tmp_path):
    # Crops, resizing and validation as the config has them (512 crops of the tiny images).
    work_dir = tmp_path / "voc_c3"
    result = train_seg(seg_workdir, "deeplabv2_r50-d8_4xb4-20k_voc12aug-512x512_c3.py",
                       work_dir, *NO_WORKERS, "randomness.seed=0")
    assert result.returncode == 0, result.stderr[-3000:]
    logs = "\n".join(p.read_text() for p in work_dir.glob("*/*.log"))
    assert "mIoU" in logs and (work_dir / "iter_2.pth").exists()
    # The ImageNet weights reached the backbone (two SGD steps from them).
    state = torch.load(work_dir / "iter_2.pth", weights_only=False)["state_dict"]
    assert any(k.startswith("backbone.layer2.c3.") for k in state)
    imagenet = torch.load(seg_workdir / "weights" / "resnet50_v1c.pth", weights_only=True)
    for key in ("layer3.5.conv2.weight", "layer4.2.conv3.weight"):
        # Two SGD steps move a weight by a few percent; a random init would be ~140 % away.
        trained, loaded = state[f"backbone.{key}"], imagenet[key]
        assert (trained - loaded).norm() < 0.25 * loaded.norm(), key


def test_cityscapes_c3_from_our_own_c3_checkpoint(seg_workdir, tmp_path):
    # Our own C3 segmentor checkpoint (as the Runner saves it) as load_from. Validation at
    # Cityscapes' 1024x2048 test size takes minutes on a CPU: train only, one iteration of
    # the config's 512x1024 crops.
    from c3_dense.mmseg.engine import build_model, load_config
    config = os.path.join(SEG, "deeplabv2_r50-d8_4xb2-80k_cityscapes-512x1024_c3.py")
    model = build_model(load_config(config, {"model.pretrained": None}), config)
    for name, param in model.named_parameters():  # C3 weights that are not the init
        if ".c3." in name:
            torch.nn.init.normal_(param, std=0.01)
    start = tmp_path / "c3_cityscapes.pth"
    torch.save({"meta": {}, "state_dict": model.state_dict()}, start)
    work_dir = tmp_path / "city"
    result = train_seg(seg_workdir, os.path.basename(config), work_dir, "val_dataloader=None",
                       "val_cfg=None", "val_evaluator=None", f"load_from={start}",
                       "train_cfg.max_iters=1", "default_hooks.checkpoint.interval=1")
    assert result.returncode == 0, result.stderr[-3000:]
    trained = torch.load(work_dir / "iter_1.pth", weights_only=False)["state_dict"]
    key = "backbone.layer4.c3.enc_fc1.weight"
    assert (trained[key] - model.state_dict()[key]).norm() < 0.5 * model.state_dict()[key].norm()


# ------------------------------------------------------------------------------------ mmdet
@pytest.fixture(scope="module")
def mmdet_workdir(tmp_path_factory):
    """mmdet's layout: data/VOCdevkit/VOC2007, VOC2012 and data/coco; torchvision's ImageNet
    files under the names torch hub gives them."""
    pytest.importorskip("mmdet", reason="needs mmdet (make test installs it)")
    import c3_dense.mmdet  # noqa: F401  (the mmcv.ops stand-in, before mmdet is used)
    work = tmp_path_factory.mktemp("mmdet_user")
    voc = str(work / "data" / "VOCdevkit")
    # Boxes of at least 32 pixels survive the VOC configs' bbox_min_size filter.
    real_layouts.write_voc_detection(voc, 2007, {"trainval": 4, "test": 2}, size=(200, 240))
    real_layouts.write_voc_detection(voc, 2012, {"trainval": 2}, size=(200, 240), seed=1)
    real_layouts.write_coco(str(work / "data"), {"train": 4, "val": 2}, size=(200, 240))
    (work / "weights").mkdir()
    real_layouts.write_torchvision_pth(str(work / "weights" / "resnet50-0676ba61.pth"), 50)
    real_layouts.write_torchvision_pth(str(work / "weights" / "resnet101-63fe2227.pth"), 101)
    return work


def train_mmdet(work, config, work_dir, *options):
    return run([os.path.join(ROOT, "tools", "train_mmdet.py"), config, "--work-dir",
                str(work_dir), "--cfg-options", *real_layouts.mmdet_small_options(config),
                *options], work)


@pytest.mark.parametrize("config,weights,metric", [
    ("faster-rcnn_r101_fpn_1x_voc07_c3.py", "resnet101-63fe2227.pth", "pascal_voc/mAP"),
    ("faster-rcnn_r50_fpn_1x_voc0712_se.py", "resnet50-0676ba61.pth", "pascal_voc/mAP"),
    ("faster-rcnn_r50_fpn_1x_coco.py", "resnet50-0676ba61.pth", "coco/bbox_mAP"),
])
def test_real_mmdet_configs_train_and_evaluate(mmdet_workdir, tmp_path, config, weights,
                                               metric):
    work_dir = tmp_path / "run"
    result = train_mmdet(mmdet_workdir, os.path.join(MMDET, config), work_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    logs = "\n".join(p.read_text() for p in work_dir.glob("*/*.log"))
    assert metric in logs
    state = torch.load(work_dir / "epoch_1.pth", weights_only=False)["state_dict"]
    new = ".c3." if "_c3" in config else ".se_plugin." if "_se" in config else None
    assert new is None or any(k.startswith("backbone.") and new in k for k in state)
    # frozen_stages=1 keeps the stem and layer1 as loaded: they must be the file's tensors.
    imagenet = torch.load(mmdet_workdir / "weights" / weights, weights_only=True)
    for key in ("conv1.weight", "layer1.0.conv2.weight"):
        assert torch.equal(state[f"backbone.{key}"], imagenet[key]), key
    trained, loaded = state["backbone.layer3.1.conv2.weight"], imagenet["layer3.1.conv2.weight"]
    assert 0 < (trained - loaded).norm() < 0.25 * loaded.norm()  # trained from it
    if metric.startswith("pascal_voc"):  # eval.py mmdet with the config's VOCMetric
        options = [o for o in real_layouts.mmdet_small_options(os.path.join(MMDET, config))
                   if o.startswith("test_dataloader")]
        result = run([os.path.join(ROOT, "tools", "eval.py"), "mmdet", os.path.join(MMDET, config),
                      str(work_dir / "epoch_1.pth"), "--work-dir", str(tmp_path / "eval"),
                      "--cfg-options", *options], mmdet_workdir)
        assert result.returncode == 0, result.stderr[-3000:]
        evaluated = json.loads((work_dir / "epoch_1_eval.json").read_text())
        assert metric in evaluated["metrics"] and evaluated["predictions"] is None
        assert "mAP" in result.stdout


def test_real_mmdet_coco_config_evaluates_as_pycocotools_scores_its_predictions(mmdet_workdir,
                                                                               tmp_path):
    """COCO R-50 C3 from torchvision's file: train, then eval.py mmdet (mmdet's CocoMetric);
    the predictions it keeps, scored by pycocotools itself, give the same numbers."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    config = os.path.join(MMDET, "faster-rcnn_r50_fpn_1x_coco_c3.py")
    work_dir = tmp_path / "coco"
    result = train_mmdet(mmdet_workdir, config, work_dir, "train_cfg.val_interval=2")
    assert result.returncode == 0, result.stderr[-3000:]
    checkpoint = work_dir / "epoch_1.pth"
    options = [o for o in real_layouts.mmdet_small_options(config) if "test_dataloader" in o]
    result = run([os.path.join(ROOT, "tools", "eval.py"), "mmdet", config, str(checkpoint),
                  "--work-dir", str(tmp_path / "eval"), "--cfg-options", *options,
                  "model.test_cfg.rcnn.score_thr=0.0"], mmdet_workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((work_dir / "epoch_1_eval.json").read_text())
    predictions = metrics["predictions"]
    assert predictions == str(work_dir / "epoch_1_eval.bbox.json")
    annotations = mmdet_workdir / "data" / "coco" / "annotations" / "instances_val2017.json"
    truth = COCO(str(annotations))
    found = json.loads(open(predictions).read())
    assert found and {d["category_id"] for d in found} <= set(truth.getCatIds())
    assert {d["image_id"] for d in found} <= set(truth.getImgIds())
    scorer = COCOeval(truth, truth.loadRes(predictions), "bbox")
    scorer.evaluate(), scorer.accumulate(), scorer.summarize()
    names = ["bbox_mAP", "bbox_mAP_50", "bbox_mAP_75", "bbox_mAP_s", "bbox_mAP_m", "bbox_mAP_l"]
    for i, name in enumerate(names):  # CocoMetric reports them to 3 decimals
        assert abs(metrics["metrics"][f"coco/{name}"] - scorer.stats[i]) < 5.1e-4, name
