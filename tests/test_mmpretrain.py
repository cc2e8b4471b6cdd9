"""mmpretrain adapter: the paper's classification backbones in mmpretrain's registry, CIFAR-100
from its local layout (generated here in the official format), training with
tools/train_cls.py, resume, top-1/top-5 evaluation, an ImageNet-layout folder tree, every
shipped config building its model, and one-line errors for bad input. (Carrying the
checkpoints into detectron2 and mmseg: tests/test_convert.py.)"""
import glob
import json
import os
import pickle
import subprocess
import sys

import pytest
import torch

pytest.importorskip("mmpretrain", reason="needs mmpretrain (make test installs it)")

import c3_dense.mmpretrain  # noqa: E402,F401
from c3_dense.data.cifar import write_cifar100_like  # noqa: E402
from c3_dense.models import create  # noqa: E402
from c3_dense.mmpretrain.engine import build_model, load_config  # noqa: E402

pytestmark = pytest.mark.slow  # command lines end to end: make test-fast leaves these out
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(ROOT, "configs", "mmpretrain")
CIFAR_C3 = os.path.join(CONFIGS, "cifar100", "resnet20_1xb128-160e_cifar100_c3.py")
CIFAR_PLAIN = os.path.join(CONFIGS, "cifar100", "resnet20_1xb128-160e_cifar100.py")
IN1K_C3 = os.path.join(CONFIGS, "imagenet", "resnet18_8xb64-90e_in1k_c3.py")


def run(args, timeout=600):
    return subprocess.run([sys.executable] + args, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, PYTHONWARNINGS="ignore"))


def cifar_options(data_root, verify_md5=False, **extra):
    options = {"train_cfg.max_epochs": 2, "train_dataloader.batch_size": 50,
               "val_dataloader.batch_size": 100, "train_dataloader.num_workers": 0,
               "val_dataloader.num_workers": 0, "test_dataloader.num_workers": 0}
    for loader in ("train_dataloader", "val_dataloader", "test_dataloader"):
        options[f"{loader}.dataset.data_root"] = str(data_root)
        options[f"{loader}.dataset.verify_md5"] = verify_md5
    options.update(extra)
    return ["--cfg-options"] + [f"{k}={v}" for k, v in options.items()]


def one_error_line(result):
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    return errors[0]


@pytest.fixture(scope="module")
def cifar(tmp_path_factory):
    base = tmp_path_factory.mktemp("cifar")
    write_cifar100_like(str(base / "data"), train_per_class=2, test_per_class=1)
    return base


@pytest.fixture(scope="module")
def trained(cifar):
    work = cifar / "run"
    result = run(["tools/train_cls.py", CIFAR_C3, "--work-dir", str(work)]
                 + cifar_options(cifar / "data"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return work


def test_cifar_backbones_are_the_papers_networks():
    # The registered backbone is c3_dense.models' network without its classifier: the same
    # parameters (the paper's 68,880 of C3 in ResNet-20) and the same features.
    for attention, suffix in ((None, ""), ("se", "_se"), ("c3", "_c3")):
        cfg = load_config(os.path.join(CONFIGS, "cifar100",
                                       f"resnet20_1xb128-160e_cifar100{suffix}.py"))
        classifier = build_model(cfg)
        reference = create(f"cifar_resnet20{suffix}")
        count = sum(p.numel() for p in classifier.parameters())
        assert count == sum(p.numel() for p in reference.parameters())
        state = {k[len("backbone."):]: v for k, v in classifier.state_dict().items()
                 if k.startswith("backbone.")}
        state.update({k.replace("head.fc.", "fc."): v for k, v in classifier.state_dict().items()
                      if k.startswith("head.fc.")})
        reference.load_state_dict(state)
        classifier.eval(), reference.eval()
        x = torch.randn(2, 3, 32, 32)
        torch.testing.assert_close(classifier(x), reference(x))
    plain = sum(p.numel() for p in create("cifar_resnet20").parameters())
    c3 = sum(p.numel() for p in create("cifar_resnet20_c3").parameters())
    assert c3 - plain == 68880


def test_every_shipped_config_builds_its_model():
    paths = sorted(p for p in glob.glob(os.path.join(CONFIGS, "*", "*.py"))
                   if os.sep + "_base_" + os.sep not in p)
    assert len(paths) == 35
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS

    from c3_dense import C3Block
    from c3_dense.openmmlab.engine import unknown_argument
    for path in paths:
        cfg = load_config(path)
        with DefaultScope.overwrite_default_scope("mmpretrain"):
            assert unknown_argument(cfg.model, MODELS) is None, path  # no false alarm
        model = build_model(cfg, path)
        keys = model.state_dict()
        c3 = path.endswith(("_c3.py", "_c3-authors.py"))
        assert any(".c3." in k for k in keys) == c3, path
        assert any(".se." in k for k in keys) == path.endswith("_se.py"), path
        # The _c3-authors configs run the authors' final code's block, the _c3 ones the paper's.
        forms = {(b.include_self, b.final_relu) for b in model.modules() if isinstance(b, C3Block)}
        assert forms == ({(True, True)} if path.endswith("-authors.py") else
                         {(False, False)} if c3 else set()), path


def test_the_earlier_se_name_builds_the_same_network_with_a_deprecation_line():
    import logging
    from mmengine.logging import MMLogger
    from mmpretrain.registry import MODELS

    class Lines(logging.Handler):
        def __init__(self):
            super().__init__()
            self.lines = []

        def emit(self, record):
            if "deprecated" in record.getMessage():
                self.lines.append(record.getMessage())

    logger, lines = MMLogger.get_current_instance(), Lines()  # where the Runner's log goes
    logger.addHandler(lines)
    try:
        new = MODELS.build(dict(type="SEResNetV1c", depth=18))
        assert not lines.lines
        old = MODELS.build(dict(type="ResNetV1cSE", depth=18))
    finally:
        logger.removeHandler(lines)
    assert len(lines.lines) == 1 and \
        "'ResNetV1cSE' is deprecated: it is now 'SEResNetV1c'" in lines.lines[0]
    assert isinstance(old, type(new))
    assert {k: v.shape for k, v in old.state_dict().items()} == \
        {k: v.shape for k, v in new.state_dict().items()}


def test_train_resume_and_evaluate_on_cifar_format_data(cifar, trained):
    assert sorted(os.path.basename(p) for p in glob.glob(str(trained / "epoch_*.pth"))) == [
        "epoch_1.pth", "epoch_2.pth"]
    # Resume continues from epoch 2 (not from scratch) up to epoch 3.
    result = run(["tools/train_cls.py", CIFAR_C3, "--work-dir", str(trained), "--resume"]
                 + cifar_options(cifar / "data", **{"train_cfg.max_epochs": 3}))
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stdout + result.stderr
    assert "resumed epoch: 2" in log and "Epoch(train) [1]" not in log
    ckpt = torch.load(str(trained / "epoch_3.pth"), map_location="cpu", weights_only=True)
    assert ckpt["meta"]["epoch"] == 3
    assert any(".c3." in k for k in ckpt["state_dict"])
    # Training over the finished run without --resume is refused, nothing overwritten.
    before = os.path.getmtime(trained / "epoch_3.pth")
    error = one_error_line(run(["tools/train_cls.py", CIFAR_C3, "--work-dir", str(trained)]
                               + cifar_options(cifar / "data")))
    assert "already holds a run" in error and os.path.getmtime(trained / "epoch_3.pth") == before
    # Evaluation: top-1 and top-5 against a count made here from the model's own predictions.
    out = cifar / "eval" / "metrics.json"
    result = run(["tools/eval.py", "cls", CIFAR_C3, str(trained / "epoch_3.pth"), "--work-dir",
                  str(cifar / "eval"), "--out", str(out)] + cifar_options(cifar / "data"))
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads(out.read_text())["metrics"]
    top1, top5 = metrics["accuracy/top1"], metrics["accuracy/top5"]
    cfg = load_config(CIFAR_C3)
    model = build_model(cfg).eval()
    model.load_state_dict(ckpt["state_dict"])
    entry = pickle.load(open(cifar / "data" / "cifar-100-python" / "test", "rb"),
                        encoding="latin1")
    images = torch.tensor(entry["data"]).reshape(-1, 3, 32, 32).float()
    mean = torch.tensor([129.304, 124.070, 112.434]).view(1, 3, 1, 1)
    std = torch.tensor([68.170, 65.392, 70.418]).view(1, 3, 1, 1)
    with torch.no_grad():
        scores = model((images - mean) / std)
    labels = torch.tensor(entry["fine_labels"])
    ranked = scores.topk(5, dim=1).indices
    assert top1 == pytest.approx(100 * (ranked[:, 0] == labels).float().mean().item(), abs=1e-3)
    assert top5 == pytest.approx(100 * (ranked == labels[:, None]).any(1).float().mean().item(),
                                 abs=1e-3)


@pytest.mark.adapter_path  # this adapter's one short path in make test-fast
def test_image_folder_layout_trains_the_imagenet_config(tmp_path):
    from PIL import Image
    import numpy as np

    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for c, synset in enumerate(("n01440764", "n01443537", "n01484850")):
            folder = tmp_path / "imagenet" / split / synset
            folder.mkdir(parents=True)
            for i in range(2):
                pixels = rng.integers(0, 256, size=(40, 48, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{synset}_{i}.JPEG")
    options = {"train_cfg.max_epochs": 1, "train_dataloader.batch_size": 3,
               "val_dataloader.batch_size": 3, "train_dataloader.num_workers": 0,
               "val_dataloader.num_workers": 0,
               "train_dataloader.dataset.data_root": tmp_path / "imagenet",
               "val_dataloader.dataset.data_root": tmp_path / "imagenet",
               "test_dataloader.dataset.data_root": tmp_path / "imagenet"}
    # As shipped the config expects ImageNet's 1000 class folders: one line says so.
    error = one_error_line(run(["tools/train_cls.py", IN1K_C3, "--work-dir", str(tmp_path / "x"),
                                "--cfg-options"] + [f"{k}={v}" for k, v in options.items()]))
    assert "(3)" in error and "(1000)" in error
    # With its classes named (a subset of ImageNet, or one's own ImageFolder set) it trains.
    synsets = "[n01440764,n01443537,n01484850]"
    for loader in ("train_dataloader", "val_dataloader", "test_dataloader"):
        options[f"{loader}.dataset.metainfo.classes"] = synsets
    options.update({"model.head.num_classes": 3, "data_preprocessor.num_classes": 3,
                    "model.head.topk": "[1,2]", "val_evaluator.topk": "[1,2]"})
    result = run(["tools/train_cls.py", IN1K_C3, "--work-dir", str(tmp_path / "run"),
                  "--cfg-options"] + [f"{k}={v}" for k, v in options.items()])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    log = result.stdout + result.stderr
    assert "Epoch(train) [1][2/2]" in log and "accuracy/top1" in log
    ckpt = torch.load(str(tmp_path / "run" / "epoch_1.pth"), map_location="cpu", weights_only=True)
    assert "backbone.layer2.c3.enc_fc1.weight" in ckpt["state_dict"]


def test_bad_input_is_one_line(cifar, trained, tmp_path):
    # Missing data folder.
    error = one_error_line(run(["tools/train_cls.py", CIFAR_C3, "--work-dir", str(tmp_path / "a")]
                               + cifar_options(tmp_path / "nowhere")))
    assert "does not exist" in error and "cifar-100-python" in error
    # Wrong layout: the folder exists but lacks meta.
    broken = tmp_path / "broken"
    write_cifar100_like(str(broken), 1, 1)
    os.remove(broken / "cifar-100-python" / "meta")
    error = one_error_line(run(["tools/train_cls.py", CIFAR_C3, "--work-dir", str(tmp_path / "b")]
                               + cifar_options(broken)))
    assert "meta is missing" in error
    # Our generated set is not the official one: verify_md5 (the default) says so.
    error = one_error_line(run(["tools/train_cls.py", CIFAR_C3, "--work-dir", str(tmp_path / "c")]
                               + cifar_options(cifar / "data", verify_md5=True)))
    assert "md5" in error and "verify_md5=False" in error
    # A data pickle that asks for code is refused before anything is unpickled.
    evil = tmp_path / "evil"
    write_cifar100_like(str(evil), 1, 1)
    with open(evil / "cifar-100-python" / "train", "wb") as f:
        f.write(b"cos\nsystem\n(S'echo hacked'\ntR.")
    error = one_error_line(run(["tools/train_cls.py", CIFAR_C3, "--work-dir", str(tmp_path / "d")]
                               + cifar_options(evil)))
    assert "os.system" in error and "refusing" in error
    # A checkpoint of another model (C3 weights, plain config).
    error = one_error_line(run(["tools/eval.py", "cls", CIFAR_PLAIN, str(trained / "epoch_1.pth"),
                                "--work-dir", str(tmp_path / "e")] + cifar_options(cifar / "data")))
    assert "another model" in error


def test_paper_table_runs_end_to_end_on_generated_data(cifar, tmp_path):
    # The CIFAR table's command on generated data in CIFAR-100's format (--data-root; the
    # --demo-data set is used below): the paper's three-way comparison, plain / SE / C3 from
    # the same recipe, two seeds of ResNet-20 each, one epoch, beside the paper's numbers; C3
    # as the authors' code has it (the default form); a second call keeps the finished runs.
    no_md5 = [f"{loader}.dataset.verify_md5=False" for loader in
              ("train_dataloader", "val_dataloader", "test_dataloader")]
    args = ["tools/paper_table.py", "cifar100", "--data-root", str(cifar / "data"), "--depths",
            "20", "--seeds", "0", "1", "--epochs", "1", "--work-dir",
            str(tmp_path / "grid"), "--cfg-options", "train_dataloader.num_workers=0",
            "val_dataloader.num_workers=0", *no_md5]
    result = run(args)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    rows = {}
    for line in result.stdout.splitlines():
        if line.startswith("| ResNet-20"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0]] = cells
    assert list(rows) == ["ResNet-20", "ResNet-20 + SE", "ResNet-20 + C3 (authors' code)"]
    for label, params, paper_top1 in (("ResNet-20", "0.28", "67.73"),
                                      ("ResNet-20 + SE", "0.28", "68.57"),
                                      ("ResNet-20 + C3 (authors' code)", "0.35", "69.34")):
        cells = rows[label]
        assert cells[1] == params and cells[2] == params and cells[4] == paper_top1
        assert cells[6] == "2" and " ± " in cells[3]  # mean ± std over the two seeds
    assert "generated data" not in result.stdout  # said only for --demo-data
    # The C3 runs trained the authors' block (the _c3-authors config, as dumped by the Runner).
    dumped = open(tmp_path / "grid" / "cifar_resnet20_c3-authors_seed0" /
                  "resnet20_1xb128-160e_cifar100_c3-authors.py").read()
    assert "form='authors'" in dumped
    results = json.loads((tmp_path / "grid" / "cifar100.json").read_text())
    assert sorted(r["seed"] for r in results) == [0, 0, 0, 1, 1, 1]
    again = run(args)
    assert again.returncode == 0 and again.stdout.count("finished earlier, kept") == 6
    assert all(" | ".join(cells) in again.stdout for cells in rows.values())


def test_torchrun_launcher_on_two_cpu_processes(cifar, tmp_path):
    # The usual multi-GPU launch (torchrun + --launcher pytorch), here on two CPU processes:
    # each takes half the data (DistributedSampler), one DDP model.
    # (--standalone: a free port, so that a parallel test run can launch another.)
    result = run(["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                  "tools/train_cls.py", CIFAR_C3, "--launcher", "pytorch", "--work-dir", str(tmp_path)]
                 + cifar_options(cifar / "data", **{"train_cfg.max_epochs": 1}))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    log = "\n".join(open(p).read() for p in glob.glob(str(tmp_path / "*" / "*.log")))
    assert "Distributed training: True" in log
    assert "Epoch(train) [1][2/2]" in log  # 200 images, 2 processes × batch 50
    assert (tmp_path / "epoch_1.pth").exists()
    # --amp needs mmengine's AmpOptimWrapper on a GPU: one line on a machine without one.
    if not torch.cuda.is_available():
        error = one_error_line(run(["tools/train_cls.py", CIFAR_C3, "--amp", "--work-dir",
                                    str(tmp_path / "amp")] + cifar_options(cifar / "data")))
        assert "--amp needs a CUDA GPU" in error


def test_paper_table_names_a_failed_run_in_one_line(tmp_path):
    # A run that fails (here: a misspelled override) stops the grid with one line naming the
    # run and the tool's own error.
    result = run(["tools/paper_table.py", "cifar100", "--demo-data", "--depths", "20",
                  "--variants", "plain", "--seeds", "0", "--epochs", "1", "--work-dir",
                  str(tmp_path / "grid"), "--cfg-options", "trian_dataloader.batch_size=4"])
    error = one_error_line(result)
    assert "cifar_resnet20_seed0 failed" in error and "did you mean" in error
    assert (tmp_path / "grid" / "data" / "cifar-100-python" / "train").exists()  # --demo-data


@pytest.mark.parametrize("kind", ["C3ResNet", "C3ResNetV1c", "ResNetSE", "SEResNetV1c"])
def test_frozen_stages_train_new_blocks_unless_told_to_freeze_them(kind):
    from mmpretrain.registry import MODELS
    from c3_dense import C3Block, SEBlock
    for freeze in (False, True):
        model = MODELS.build(dict(type=kind, depth=18, frozen_stages=2, freeze_new_blocks=freeze))
        model.train()
        frozen = [m for layer in (model.layer1, model.layer2) for m in layer.modules()
                  if isinstance(m, (C3Block, SEBlock))]
        assert frozen and all(p.requires_grad != freeze for m in frozen for p in m.parameters())
        assert not model.layer1[0].conv1.weight.requires_grad
