"""The framework-free command lines: complexity table, diversity, demo data, set-up script."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # command lines end to end: make test-fast leaves these out
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*args, **kw):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, **kw)


def test_complexity_prints_the_papers_parameter_table():
    result = run("tools/complexity.py", "--no-flops")
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split()[1:3] for line in result.stdout.splitlines()[1:13]}
    for name, params in [("cifar_resnet20", "0.28"), ("cifar_resnet20_c3", "0.35"),
                         ("cifar_resnet56", "0.86"), ("cifar_resnet56_c3", "0.93"),
                         ("cifar_resnet110", "1.74"), ("cifar_resnet110_c3", "1.81"),
                         ("cifar_wrn20_10", "26.86"), ("cifar_wrn20_10_c3", "26.93")]:
        assert rows[name] == [params, params], name
    assert "fvcore" in result.stdout and "thop" in result.stdout


def test_complexity_counts_flops_with_fvcore():
    result = run("tools/complexity.py", "--models", "cifar_resnet20", "cifar_resnet20_c3")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    plain = float(lines[1].split()[3].rstrip("M"))
    c3 = float(lines[2].split()[3].rstrip("M"))
    assert 35 < plain < 45 and c3 > plain
    bad = run("tools/complexity.py", "--models", "resnet21")
    assert bad.returncode == 2 and "unknown model" in bad.stderr


def test_diversity_tool(tmp_path):
    from c3_dense.data import make_demo_dataset
    root = make_demo_dataset(str(tmp_path / "c3_demo"), splits={"train": 2, "test": 2})
    out = tmp_path / "div.json"
    result = run("tools/diversity.py", "--model", "cifar_resnet20_c3", "--size", "32",
                 "--images", os.path.join(root, "VOC", "JPEGImages"), "--out", str(out))
    assert result.returncode == 0, result.stderr
    blocks = json.loads(out.read_text())["blocks"]
    assert set(blocks) == {"stages.0.c3", "stages.1.c3", "stages.2.c3"}
    assert all(0 < v["input"] <= 1 and 0 < v["output"] <= 1 for v in blocks.values())
    bad = run("tools/diversity.py", "--model", "cifar_resnet20_c3", "--images", str(tmp_path / "x"))
    assert bad.returncode == 2 and "no .jpg/.png images" in bad.stderr


def test_demo_data_is_deterministic_and_in_both_layouts(tmp_path):
    from c3_dense.data import DEMO_CLASSES, make_demo_dataset
    a = make_demo_dataset(str(tmp_path / "a"), splits={"train": 3, "test": 2})
    b = make_demo_dataset(str(tmp_path / "b"), splits={"train": 3, "test": 2})
    for rel in ("VOC/JPEGImages/train_00002.jpg", "VOC/SegmentationClass/test_00001.png",
                "VOC/Annotations/train_00000.xml", "annotations/instances_train.json"):
        assert open(os.path.join(a, rel), "rb").read() == open(os.path.join(b, rel), "rb").read()
    coco = json.load(open(os.path.join(a, "annotations", "instances_train.json")))
    assert [c["name"] for c in coco["categories"]] == list(DEMO_CLASSES)
    assert len(coco["images"]) == 3 and coco["annotations"]
    ids = open(os.path.join(a, "VOC", "ImageSets", "Main", "test.txt")).read().split()
    assert ids == ["test_00000", "test_00001"]
    from PIL import Image
    label = Image.open(os.path.join(a, "VOC", "SegmentationClass", "train_00000.png"))
    assert label.mode == "P"
    values = set(np.unique(np.asarray(label)).tolist())
    assert values <= {0, 1, 2, 3, 4, 255} and len(values) > 1


def test_setup_script_reports_a_ready_venv(tmp_path):
    # On the suite's own (ready) venv every step is found installed: no network, seconds.
    venv = os.path.dirname(os.path.dirname(sys.executable))
    result = run("tools/setup_env.py", "--venv", venv, "--no-frameworks")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[setup] torch        ok" in result.stdout
    assert "ready in" in result.stdout


def test_core_imports_no_framework():
    code = ("import sys, c3_dense, c3_dense.core, c3_dense.models, c3_dense.analysis, "
            "c3_dense.data, c3_dense.errors\n"
            "c3_dense.models.create('cifar_resnet20_c3')\n"
            "heavy = {'detectron2', 'mmseg', 'mmcv', 'mmengine', 'fvcore', 'sklearn', 'skimage', "
            "'torchvision'}\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & heavy))")
    result = run("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_diversity_tool_on_a_detector_backbone(tmp_path):
    pytest.importorskip("detectron2", reason="needs detectron2 (make test installs it)")
    from c3_dense.data import make_demo_dataset
    root = make_demo_dataset(str(tmp_path / "c3_demo"), splits={"train": 2, "test": 2})
    out = tmp_path / "div.json"
    result = run("tools/diversity.py", "--det-config",
                 os.path.join("configs", "detectron2", "Demo", "faster_rcnn_R_18_FPN_c3.yaml"),
                 "--images", os.path.join(root, "VOC", "JPEGImages"), "--size", "64",
                 "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    blocks = json.loads(out.read_text())["blocks"]
    assert set(blocks) == {"bottom_up.res3.c3", "bottom_up.res4.c3", "bottom_up.res5.c3"}
    # zero_init: untrained blocks pass their input through, so diversity is unchanged.
    for v in blocks.values():
        assert v["input"] == pytest.approx(v["output"], abs=1e-6)


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the no-CUDA path")
def test_gpu_check_says_no_cuda_in_one_line_and_exits_0():
    result = run("bench/gpu_check.py")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines() == [result.stdout.strip()]
    assert result.stdout.startswith("gpu_check: no CUDA device")


def test_gpu_check_dry_run_on_the_cpu(tmp_path):
    """Every check of the GPU script runs (CPU against itself, fp32 steps of both detectors'
    and segmentors' real configs, the timing tables) and finds no problem."""
    pytest.importorskip("detectron2", reason="needs detectron2 (make test installs it)")
    pytest.importorskip("mmseg", reason="needs mmsegmentation (make test installs it)")
    result = run("bench/gpu_check.py", "--device", "cpu", "--quick", "--out", str(tmp_path),
                 env=dict(os.environ, PYTHONWARNINGS="ignore"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "| Faster R-CNN R-50-FPN C3 | float32 |" in out and "| DeepLabv2 R-50-D8 C3 | float32 |" in out
    assert out.count("| yes |") >= 14 and "| NO |" not in out
    assert "| channels_last resize (26, 27) |" in out and "| deterministic default | 0.0e+00 | yes |" in out
    assert "| 8×256@14×14 (28²) | train |" in out and "gpu_check: 0 problems" in out
    messages = out[out.index("## 6. The message step"):]
    assert "| 8×256@14×14 (28²) |" in messages  # function and sdpa timed, with their difference
    compiled = out[out.index("## 7. torch.compile"):]
    assert "| 8×256@14×14 (28²) | eval |" in compiled  # with its |compiled - eager|
    # Each section is written to --out as it ends (what a limited GPU loan brings back).
    files = sorted(os.listdir(tmp_path))
    assert files == ["1_agreement.md", "2_amp.md", "3_block.md", "4_growth.md",
                     "5_iterations.md", "6_messages.md", "7_compile.md"], files
    assert (tmp_path / "6_messages.md").read_text() in out
    # A budget that is spent skips the sections not yet started, saying so.
    skipped = run("bench/gpu_check.py", "--device", "cpu", "--quick", "--sections",
                  "agreement,growth", "--budget", "0")
    assert skipped.returncode == 0 and "## 1. agreement: skipped" in skipped.stdout
    assert "## 4. growth: skipped" in skipped.stdout


@pytest.mark.parametrize("tool", ["eval.py", "visualize.py", "convert_weights.py", "infer.py",
                                  "diversity.py", "make_demo_data.py"])
def test_help_descriptions_are_whole_sentences(tool):
    # The description is the docstring's first paragraph, not its first line (which stopped
    # mid-sentence for eval, visualize and convert_weights).
    result = subprocess.run([sys.executable, os.path.join(ROOT, "tools", tool), "--help"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    paragraphs = result.stdout.split("\n\n")
    description = " ".join(paragraphs[1].split())
    assert description.endswith("."), description


def test_our_json_files_are_strict_json(tmp_path):
    import math
    import torch
    from c3_dense.records import write_json
    path = write_json(str(tmp_path / "sub" / "m.json"),
                      {"AP": float("nan"), "APs": math.inf, "n": np.int64(3), "t": torch.tensor(0.5),
                       "rows": [(1, float("-inf"))], 2: "two"})
    text = open(path).read()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"AP": None, "APs": None, "n": 3, "t": 0.5, "rows": [[1, None]],
                                "2": "two"}
