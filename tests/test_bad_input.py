"""Bad input, by kind, across the five command lines (train_det.py, train_seg.py, eval.py,
diversity.py, complexity.py): each case is one run of the tool as a user types it, and must
end with exit code 2 and exactly one ``error:`` line that names the problem."""
import os
import shutil
import subprocess
import sys
from xml.etree import ElementTree as ET

import pytest

from c3_dense.data import make_demo_dataset

pytestmark = pytest.mark.slow  # command lines end to end: make test-fast leaves these out
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DET = os.path.join("configs", "detectron2", "Demo", "faster_rcnn_R_18_FPN_c3.yaml")
DET_VOC = os.path.join("configs", "detectron2", "Demo", "faster_rcnn_R_18_FPN_voc.yaml")
SEG = os.path.join("configs", "mmseg", "demo", "deeplabv2_r18-d8_demo_c3.py")
CLS = os.path.join("configs", "mmpretrain", "cifar100", "resnet20_1xb128-160e_cifar100_c3.py")
DET_FAST = ["SOLVER.MAX_ITER", "1", "SOLVER.IMS_PER_BATCH", "2", "MODEL.RPN.POST_NMS_TOPK_TEST",
            "20"]
SEG_FAST = ["train_cfg.max_iters=1", "train_dataloader.batch_size=2"]


@pytest.fixture(scope="module")
def clean_data(tmp_path_factory):
    base = tmp_path_factory.mktemp("bad_input_data")
    make_demo_dataset(str(base / "c3_demo"), splits={"train": 4, "test": 2})
    return base


# ------------------------------------------------------------------ ways to damage the data
def _coco(base, split):
    return base / "c3_demo" / "annotations" / f"instances_{split}.json"


def unknown_category(base):
    import json
    path = _coco(base, "train")
    content = json.loads(path.read_text())
    content["annotations"][0]["category_id"] = 99
    path.write_text(json.dumps(content))


def _first_object(base, split="test"):
    voc = base / "c3_demo" / "VOC"
    image_id = (voc / "ImageSets" / "Main" / f"{split}.txt").read_text().split()[0]
    path = voc / "Annotations" / f"{image_id}.xml"
    tree = ET.parse(path)
    return path, tree, tree.find("object")


def object_without_bndbox(base):
    path, tree, obj = _first_object(base, "train")
    obj.remove(obj.find("bndbox"))
    tree.write(path)


def object_of_unknown_class(base):
    path, tree, obj = _first_object(base, "train")
    obj.find("name").text = "seven"
    tree.write(path)


def empty_voc_test_split(base):
    (base / "c3_demo" / "VOC" / "ImageSets" / "Main" / "test.txt").write_text("")


def eval_image_not_an_image(base):
    import json
    image = json.loads(_coco(base, "test").read_text())["images"][0]["file_name"]
    (base / "c3_demo" / "VOC" / "JPEGImages" / image).write_text("not a picture")


def train_images_not_images(base):
    for path in (base / "c3_demo" / "VOC" / "JPEGImages").glob("train_*.jpg"):
        path.write_text("not a picture")


def label_out_of_range(base):
    import numpy as np
    from PIL import Image
    voc = base / "c3_demo" / "VOC"
    for path in (voc / "SegmentationClass").glob("train_*.png"):
        label = np.array(Image.open(path))
        label[:4, :4] = 7
        Image.fromarray(label).save(path)


def empty_seg_split(base):
    (base / "c3_demo" / "VOC" / "ImageSets" / "Segmentation" / "train.txt").write_text("\n")


def seg_image_not_an_image(base):
    for path in (base / "c3_demo" / "VOC" / "JPEGImages").glob("*.jpg"):
        path.write_text("not a picture")


def boxes_outside_images(base):
    import json
    path = _coco(base, "train")
    content = json.loads(path.read_text())
    for annotation in content["annotations"]:
        annotation["bbox"] = [500, 500, 10, 10]  # the images are 128×128
    path.write_text(json.dumps(content))


def truncated_photo(base):
    from PIL import Image
    Image.new("RGB", (64, 48), (200, 40, 40)).save(base / "whole.jpg", quality=95)
    data = (base / "whole.jpg").read_bytes()
    (base / "cut.jpg").write_bytes(data[:len(data) // 2])  # its header intact, its pixels cut


def image_over_pil_limit(base):
    from PIL import Image
    # 196 million 1-bit pixels: over twice PIL's default limit, 24 MB in memory, tiny on disk.
    Image.new("1", (14000, 14000)).save(base / "huge.png")


class _RunsCode:
    """Pickles as a call of os.system: what a crafted weights file holds."""

    def __reduce__(self):
        return (os.system, ("echo this must never run",))


def files(base):
    """Weights and paths that the cases refer to, made next to the data."""
    import json
    import torch
    (base / "truncated.pth").write_bytes(b"PK\x03\x04 this zip ends here")
    (base / "notes.pkl").write_text("these are not weights")
    (base / "a_file").write_text("x")
    (base / "a_folder").mkdir(exist_ok=True)
    (base / "broken.yaml").write_text(f'_BASE_: "{os.path.join(ROOT, DET)}"\nMODEL:\n'
                                      "  WEIGHTS: [unclosed\n")
    torch.save({"state_dict": {"w": torch.ones(1)}, "x": _RunsCode()}, base / "crafted.pth")
    (base / "other_images.json").write_text(json.dumps(
        [{"image_id": 9999, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.9}]))
    (base / "other_categories.json").write_text(json.dumps(
        [{"image_id": 1, "category_id": 99, "bbox": [0, 0, 5, 5], "score": 0.9}]))


def seg_data(base):
    return [f"{s}_dataloader.dataset.data_root={base / 'c3_demo' / 'VOC'}"
            for s in ("train", "val", "test")]


# (id, kind, damage, argv(base) -> tool arguments, expected text in the error line)
CASES = [
    # --- arguments
    ("diversity --size 0", "argument", None,
     lambda b: ["tools/diversity.py", "--size", "0"], "--size: 0 must be at least 1"),
    ("diversity --limit abc", "argument", None,
     lambda b: ["tools/diversity.py", "--limit", "abc"], "'abc' is not a whole number"),
    ("complexity unknown model", "argument", None,
     lambda b: ["tools/complexity.py", "--models", "resnet21"], "unknown model"),
    ("complexity --set", "argument", None,
     lambda b: ["tools/complexity.py", "--set", "nope"], "invalid choice"),
    ("eval.py without task", "argument", None, lambda b: ["tools/eval.py"], "required"),
    ("train_det --num-gpus x", "argument", None,
     lambda b: ["tools/train_det.py", "--config-file", DET, "--num-gpus", "x"], "invalid int"),
    ("train_seg without config", "argument", None, lambda b: ["tools/train_seg.py"], "required"),
    # --- config values
    ("det MAX_ITER 0", "config", None,
     lambda b: ["tools/train_det.py", "--config-file", DET, "SOLVER.MAX_ITER", "0"],
     "SOLVER.MAX_ITER is 0; it must be at least 1"),
    ("det IMS_PER_BATCH -2", "config", None,
     lambda b: ["tools/train_det.py", "--config-file", DET, "SOLVER.IMS_PER_BATCH", "-2"],
     "SOLVER.IMS_PER_BATCH is -2"),
    ("det value of the wrong type", "config", None,
     lambda b: ["tools/train_det.py", "--config-file", DET, "SOLVER.MAX_ITER", "many"],
     "bad config value"),
    ("det misspelled key", "config", None,
     lambda b: ["tools/train_det.py", "--config-file", DET, "MODEL.C3.WINDOW", "[4]"],
     "unknown config key MODEL.C3.WINDOW"),
    ("det NUM_CLASSES vs data", "config", None,
     lambda b: ["tools/train_det.py", "--config-file", DET, *DET_FAST,
                "MODEL.ROI_HEADS.NUM_CLASSES", "7", "OUTPUT_DIR", str(b / "o")],
     "NUM_CLASSES is 7 but data set 'c3demo_coco_train' has 4 classes"),
    ("det batch over processes", "config", None,
     lambda b: ["tools/train_det.py", "--config-file", DET, "--num-gpus", "2", *DET_FAST,
                "SOLVER.IMS_PER_BATCH", "3", "OUTPUT_DIR", str(b / "o")],
     "does not divide over 2 processes"),
    ("seg max_iters=0", "config", None,
     lambda b: ["tools/train_seg.py", SEG, "--work-dir", str(b / "w"), "--cfg-options",
                "train_cfg.max_iters=0", *seg_data(b)], "train_cfg.max_iters is 0"),
    ("seg batch_size=0", "config", None,
     lambda b: ["tools/train_seg.py", SEG, "--work-dir", str(b / "w"), "--cfg-options",
                "train_dataloader.batch_size=0", *seg_data(b)], "train_dataloader.batch_size is 0"),
    ("seg num_classes vs data", "config", None,
     lambda b: ["tools/train_seg.py", SEG, "--work-dir", str(b / "w"), "--cfg-options",
                "model.decode_head.num_classes=3", *seg_data(b)], "num_classes is 3"),
    ("det YAML syntax error", "config", None,
     lambda b: ["tools/train_det.py", "--config-file", str(b / "broken.yaml")],
     "is not valid YAML at line 4"),
    ("det C3 window too large to allocate", "config", None,
     lambda b: ["tools/train_det.py", "--config-file", DET, "MODEL.C3.WINDOWS", "[1000,8,4]"],
     "MODEL.C3.WINDOWS: window 1000x1000 gives the block"),
    ("det DETECTIONS_PER_IMAGE 0", "config", None,
     lambda b: ["tools/eval.py", "det", "--config-file", DET, "--weights", str(b / "nope.pth"),
                "TEST.DETECTIONS_PER_IMAGE", "0"], "TEST.DETECTIONS_PER_IMAGE is 0"),
    ("eval cls top-k of 0", "config", None,
     lambda b: ["tools/eval.py", "cls", CLS, str(b / "nope.pth"), "--cfg-options",
                "test_evaluator.topk=0"], "test_evaluator.topk holds 0"),
    ("eval cls top-k below 0", "config", None,
     lambda b: ["tools/eval.py", "cls", CLS, str(b / "nope.pth"), "--cfg-options",
                "test_evaluator.topk=(1,-5)"], "test_evaluator.topk holds -5"),
    ("config: an absolute path that is no file", "config", None,
     lambda b: ["tools/train_det.py", "--config-file",
                os.path.join(str(b), "PascalVOC07", "faster_rcnn_R_50_FPN_c3.yaml")],
     "not found; check the path"),
    ("seg misspelled C3 option in c3_cfg", "config", None,
     lambda b: ["tools/train_seg.py", SEG, "--work-dir", str(b / "w"), "--cfg-options",
                *SEG_FAST, "model.backbone.c3_cfg.reductoin=4", *seg_data(b)],
     "c3_cfg key 'reductoin' is not a C3 option"),
    # --- data
    ("infer truncated image", "data", truncated_photo,
     lambda b: ["tools/infer.py", "det", DET, str(b / "truncated.pth"), str(b / "cut.jpg"),
                "--out", str(b / "o")], "cut.jpg is not a readable image (Truncated"),
    ("real VOC config, no data, no GPU", "data", None,
     lambda b: ["tools/train_det.py", "--config-file",
                os.path.join("configs", "detectron2", "PascalVOC07", "faster_rcnn_R_50_FPN_c3.yaml")],
     "VOC2007 does not exist"),
    ("det every train box outside its image", "data", boxes_outside_images,
     lambda b: ["tools/train_det.py", "--config-file", DET, *DET_FAST, "OUTPUT_DIR", str(b / "o")],
     "none of the"),
    ("eval --predictions of unknown images", "data", None,
     lambda b: ["tools/eval.py", "det", "--config-file", DET, "--predictions",
                str(b / "other_images.json"), "--output-dir", str(b / "o")],
     "image_ids are not among"),
    ("eval --predictions of unknown categories", "data", None,
     lambda b: ["tools/eval.py", "det", "--config-file", DET, "--predictions",
                str(b / "other_categories.json"), "--output-dir", str(b / "o")],
     "category_ids are not among"),
    ("infer image over PIL's limit", "data", image_over_pil_limit,
     lambda b: ["tools/infer.py", "det", DET, str(b / "truncated.pth"), str(b / "huge.png"),
                "--out", str(b / "o")], "too large for PIL"),
    ("COCO unknown category id", "data", unknown_category,
     lambda b: ["tools/train_det.py", "--config-file", DET, *DET_FAST, "OUTPUT_DIR", str(b / "o")],
     "category id 99"),
    ("VOC object without bndbox", "data", object_without_bndbox,
     lambda b: ["tools/train_det.py", "--config-file", DET_VOC, *DET_FAST,
                "OUTPUT_DIR", str(b / "o")], "without bndbox"),
    ("VOC object of an unknown class", "data", object_of_unknown_class,
     lambda b: ["tools/train_det.py", "--config-file", DET_VOC, *DET_FAST,
                "OUTPUT_DIR", str(b / "o")], "class 'seven'"),
    ("VOC empty split", "data", empty_voc_test_split,
     lambda b: ["tools/eval.py", "det", "--config-file", DET_VOC, "--weights",
                str(b / "truncated.pth")], "lists no images"),
    ("det test file not an image", "data", eval_image_not_an_image,
     lambda b: ["tools/train_det.py", "--config-file", DET, *DET_FAST, "OUTPUT_DIR", str(b / "o")],
     "is not an image"),
    ("det train files not images", "data", train_images_not_images,
     lambda b: ["tools/train_det.py", "--config-file", DET, *DET_FAST, "DATASETS.TEST", "()",
                "OUTPUT_DIR", str(b / "o")], "cannot be read"),
    ("seg label >= num_classes", "data", label_out_of_range,
     lambda b: ["tools/train_seg.py", SEG, "--work-dir", str(b / "w"), "--cfg-options",
                *SEG_FAST, *seg_data(b)], "holds class ids [7]"),
    ("seg empty split", "data", empty_seg_split,
     lambda b: ["tools/train_seg.py", SEG, "--work-dir", str(b / "w"), "--cfg-options",
                *SEG_FAST, *seg_data(b)], "lists no images"),
    ("seg file not an image", "data", seg_image_not_an_image,
     lambda b: ["tools/train_seg.py", SEG, "--work-dir", str(b / "w"), "--cfg-options",
                *SEG_FAST, *seg_data(b)], "is not an image"),
    # --- weights files
    ("det truncated weights", "weights", None,
     lambda b: ["tools/train_det.py", "--config-file", DET, *DET_FAST, "MODEL.WEIGHTS",
                str(b / "truncated.pth"), "OUTPUT_DIR", str(b / "o")], "cannot be read"),
    ("det .pkl that is no pickle", "weights", None,
     lambda b: ["tools/eval.py", "det", "--config-file", DET, "--weights", str(b / "notes.pkl"),
                "--output-dir", str(b / "o")], "cannot be read"),
    ("det missing weights", "weights", None,
     lambda b: ["tools/eval.py", "det", "--config-file", DET, "--weights", str(b / "nope.pth"),
                "--output-dir", str(b / "o")], "not found"),
    ("seg checkpoint that is no checkpoint", "weights", None,
     lambda b: ["tools/eval.py", "seg", SEG, str(b / "notes.pkl"), "--work-dir", str(b / "w"),
                "--cfg-options", *seg_data(b)], "cannot be read"),
    ("det weights path is a folder", "weights", None,
     lambda b: ["tools/train_det.py", "--config-file", DET, *DET_FAST, "MODEL.WEIGHTS",
                str(b / "a_folder"), "OUTPUT_DIR", str(b / "o")], "is a folder"),
    ("seg crafted .pth as model.pretrained", "weights", None,
     lambda b: ["tools/train_seg.py", SEG, "--work-dir", str(b / "w"), "--cfg-options",
                *SEG_FAST, f"model.pretrained={b / 'crafted.pth'}", *seg_data(b)],
     "asks to load posix.system"),
    ("diversity truncated weights", "weights", None,
     lambda b: ["tools/diversity.py", "--model", "cifar_resnet20_c3", "--weights",
                str(b / "truncated.pth")], "cannot be read"),
    # --- output paths
    ("eval --out is a folder", "output", None,
     lambda b: ["tools/eval.py", "det", "--config-file", DET, "--weights", str(b / "nope.pth"),
                "--out", str(b / "a_folder")], "--out"),
    ("train_seg --work-dir is a file", "output", None,
     lambda b: ["tools/train_seg.py", SEG, "--work-dir", str(b / "a_file"), "--cfg-options",
                *SEG_FAST, *seg_data(b)], "is a file, not a folder"),
    ("train_det OUTPUT_DIR is a file", "output", None,
     lambda b: ["tools/train_det.py", "--config-file", DET, *DET_FAST,
                "OUTPUT_DIR", str(b / "a_file")], "is a file, not a folder"),
    ("make_demo_data --root is a file", "output", None,
     lambda b: ["tools/make_demo_data.py", "--root", str(b / "a_file")], "is a file, not a folder"),
    ("diversity --out under a file", "output", None,
     lambda b: ["tools/diversity.py", "--model", "cifar_resnet20_c3", "--out",
                str(b / "a_file" / "d.json")], "is a file, not a folder"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_one_error_line_and_exit_2(case, clean_data, tmp_path):
    _, kind, damage, argv, expected = case
    base = clean_data
    if damage is not None:
        base = tmp_path / "data"
        shutil.copytree(clean_data, base)
        damage(base)
    files(base)
    env = dict(os.environ, DETECTRON2_DATASETS=str(base), PYTHONWARNINGS="ignore")
    result = subprocess.run([sys.executable, *argv(base)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 2, (kind, result.stderr[-3000:])
    assert len(errors) == 1, result.stderr[-3000:]
    assert expected in errors[0], errors[0]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]


def test_demo_data_whose_stamp_outlived_its_images_are_written_again(tmp_path, capsys):
    root = make_demo_dataset(str(tmp_path / "c3_demo"), splits={"train": 3, "test": 1})
    image = os.path.join(root, "VOC", "JPEGImages", "train_00001.jpg")
    os.remove(image)
    make_demo_dataset(root, splits={"train": 3, "test": 1})
    assert os.path.isfile(image)
    assert "missing; writing them again" in capsys.readouterr().out
