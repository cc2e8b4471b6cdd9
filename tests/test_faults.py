"""Faults a long run meets, made for real: a disk that fills up (a small tmpfs mounted in the
test where this machine allows it, else ENOSPC raised at the write), an output path that is
its own input (through a symlink, a hard link, relative and absolute spellings), options that
cannot work checked before any work, and the resume of another model's checkpoint. Each ends
in one line, the documented exit code, no partial file and nothing lost. (Ctrl-C: a real
SIGINT to training processes in tests/test_workflows.py.)"""
import errno
import os
import shlex
import shutil
import subprocess
import sys

import pytest
import torch

from c3_dense.errors import (RunStopped, UserInputError, refuse_overwriting_inputs,
                             resume_command)
from c3_dense.files import write_whole, written_whole
from c3_dense.weights import checkpoint_size, load_torch_file, torch_bytes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = os.path.join(ROOT, "tools")
CONFIGS = os.path.join(ROOT, "configs")
CIFAR = os.path.join(CONFIGS, "mmpretrain", "cifar100", "resnet20_1xb128-160e_cifar100_c3.py")
DET = os.path.join(CONFIGS, "detectron2", "Demo", "faster_rcnn_R_18_FPN_c3.yaml")
SEG = os.path.join(CONFIGS, "mmseg", "demo", "deeplabv2_r18-d8_demo_c3.py")


# ------------------------------------------------------------------ helpers
def run(args, cwd=ROOT, env=None, timeout=900):
    env = dict(os.environ, PYTHONWARNINGS="ignore", **(env or {}))
    return subprocess.run([sys.executable, *map(str, args)], cwd=str(cwd), env=env,
                          capture_output=True, text=True, timeout=timeout)


def one_error(result, expected):
    """The run stopped with exit code 2 and one ``error:`` line holding ``expected``."""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 2 and len(errors) == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr + result.stdout, (result.stdout + result.stderr)[-3000:]
    assert expected in errors[0], errors[0]
    return errors[0]


@pytest.fixture
def small_disk(tmp_path):
    """``mount(megabytes)`` -> a folder on a tmpfs of that size (a real full disk); ``grow(mb)``
    gives it more room, as freeing space would. Skips where tmpfs cannot be mounted."""
    mounted = []

    def mount(megabytes: float):
        folder = tmp_path / f"disk{len(mounted)}"
        folder.mkdir()
        size = f"size={int(megabytes * 1024)}k"
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", size, "tmpfs", str(folder)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip("needs permission to mount a small tmpfs (root, or a container allowing "
                        f"mount): {result.stderr.strip()[:120]}")
        mounted.append(folder)
        return folder

    def grow(folder, megabytes: float):
        subprocess.run(["mount", "-o", f"remount,size={int(megabytes * 1024)}k", str(folder)],
                       check=True)

    mount.grow = grow
    yield mount
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


# ------------------------------------------------------------------ writing whole (any machine)
def test_a_full_disk_mid_write_leaves_the_earlier_file_and_no_part(tmp_path):
    path = tmp_path / "model_0000009.pth"
    path.write_bytes(b"the earlier, complete checkpoint")

    with pytest.raises(RunStopped) as info:
        with written_whole(str(path), needed=5 * 2 ** 20, fix="free space", stopped=True) as part:
            with open(part, "wb") as f:
                f.write(b"half of it")
                raise OSError(errno.ENOSPC, "No space left on device", part)  # what write gives
    message = str(info.value)
    assert str(path) in message and "about 5.0 MB" in message and "MB are free" in message
    assert "nothing was written under that name - free space" in message
    assert path.read_bytes() == b"the earlier, complete checkpoint"
    assert os.listdir(tmp_path) == [path.name]


def test_ctrl_c_mid_write_leaves_no_part(tmp_path):
    path = tmp_path / "iter_4.pth"
    with pytest.raises(KeyboardInterrupt):
        with written_whole(str(path), needed=1, fix="") as part:
            with open(part, "wb") as f:
                f.write(b"x")
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []


def test_write_whole_refuses_before_writing_when_the_disk_cannot_hold_it(tmp_path, monkeypatch):
    import c3_dense.files as files

    monkeypatch.setattr(files, "free_bytes", lambda path: 100)
    with pytest.raises(UserInputError, match=r"takes 0.0 MB and 0.0 MB are free"):
        write_whole(str(tmp_path / "w.pth"), b"x" * 1000, "write it elsewhere")
    assert os.listdir(tmp_path) == []
    write_whole(str(tmp_path / "w.pth"), b"x" * 10, "")
    assert (tmp_path / "w.pth").read_bytes() == b"x" * 10


def test_checkpoint_size_counts_the_optimizer_state():
    model = torch.nn.Linear(100, 10)  # 1010 float32 parameters
    plain = checkpoint_size(model)
    assert plain == 1010 * 4
    assert checkpoint_size(model, torch.optim.SGD(model.parameters(), lr=0.1)) == plain
    assert checkpoint_size(model, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)) \
        == 2 * plain
    assert checkpoint_size(model, torch.optim.AdamW(model.parameters())) == 3 * plain
    # Measured against what torch writes once SGD has stepped: within a few per cent.
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.ones(1, 100)).sum().backward()
    optimizer.step()
    written = len(torch_bytes({"model": model.state_dict(), "optimizer": optimizer.state_dict()}))
    assert 2 * plain <= written <= 2 * plain + 4096


# ------------------------------------------------------------------ an output that is its input
def test_the_same_file_by_every_spelling_is_refused(tmp_path, monkeypatch):
    source = tmp_path / "ckpt.pth"
    source.write_bytes(b"weights")
    (tmp_path / "link.pth").symlink_to(source)
    os.link(source, tmp_path / "hard.pth")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    for spelling in (str(source), "../ckpt.pth", str(tmp_path / "sub" / ".." / "ckpt.pth"),
                     str(tmp_path / "link.pth"), "../hard.pth"):
        with pytest.raises(UserInputError, match="is the input"):
            refuse_overwriting_inputs([spelling], [str(source)])
    refuse_overwriting_inputs([str(tmp_path / "other.pth")], [str(source)])  # a new file: fine
    refuse_overwriting_inputs([str(source)], [None, str(tmp_path / "gone.pth")])


@pytest.mark.parametrize("spelling", ["symlink", "relative", "absolute"])
def test_convert_weights_never_replaces_the_checkpoint_it_reads(tmp_path, spelling):
    from c3_dense.models import create

    checkpoint = tmp_path / "runs" / "epoch_1.pth"
    checkpoint.parent.mkdir()
    torch.save({"state_dict": {f"backbone.{k}": v for k, v in
                               create("resnet18").state_dict().items()}}, checkpoint)
    before = checkpoint.read_bytes()
    out = {"symlink": tmp_path / "link.pth", "relative": "runs/../runs/epoch_1.pth",
           "absolute": checkpoint}[spelling]
    if spelling == "symlink":
        out.symlink_to(checkpoint)
    result = run([os.path.join(TOOLS, "convert_weights.py"), "runs/epoch_1.pth", out, "--to",
                  "mmseg", "--overwrite"], cwd=tmp_path)
    one_error(result, "is the input")
    assert checkpoint.read_bytes() == before


def test_infer_into_the_folder_of_its_images_is_refused_before_loading(tmp_path):
    from PIL import Image

    photo = tmp_path / "photo.png"
    Image.new("RGB", (32, 24), (10, 200, 30)).save(photo)
    before = photo.read_bytes()
    result = run([os.path.join(TOOLS, "infer.py"), "seg", "mmseg/demo/deeplabv2_r18-d8_demo_c3.py",
                  tmp_path / "no_weights.pth", photo, "--out", tmp_path])
    one_error(result, f"output {tmp_path / 'photo.png'} is the input")
    assert "loading" not in result.stdout and photo.read_bytes() == before


# ------------------------------------------------------------------ options checked up front
def test_resume_command_is_the_same_command_with_resume_first(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["tools/train_det.py", "--config-file", "a b.yaml",
                                      "--overwrite", "SOLVER.MAX_ITER", "9"])
    assert resume_command() == shlex.join([sys.executable, "tools/train_det.py", "--resume",
                                           "--config-file", "a b.yaml", "SOLVER.MAX_ITER", "9"])
    monkeypatch.setattr(sys, "argv", ["c3_dense train_seg", "cfg.py", "--resume"])
    assert resume_command(["cfg.py", "--resume"]) == shlex.join(
        [sys.executable, "-m", "c3_dense", "train_seg", "cfg.py", "--resume"])
    monkeypatch.setattr(sys, "argv", ["/venv/bin/c3-train-cls", "cfg.py"])
    assert resume_command() == "/venv/bin/c3-train-cls --resume cfg.py"


@pytest.mark.parametrize("tool", ["det", "seg", "cls"])
def test_a_compile_backend_listed_but_not_installed_stops_before_the_output_folder(tmp_path, tool):
    import importlib.util
    if importlib.util.find_spec("tvm") is not None:
        pytest.skip("tvm is installed here; the case needs a listed backend that is not")
    out = tmp_path / "run"
    if tool == "det":
        args = [os.path.join(TOOLS, "train_det.py"), "--config-file", DET,
                "MODEL.BACKBONE.COMPILE", "True", "MODEL.BACKBONE.COMPILE_BACKEND", "tvm",
                "OUTPUT_DIR", out]
        key = "MODEL.BACKBONE.COMPILE_BACKEND 'tvm'"
    else:
        config = (os.path.join(CONFIGS, "mmseg", "demo", "deeplabv2_r18-d8_demo_c3.py")
                  if tool == "seg" else CIFAR)
        data = tmp_path / "data"
        data.mkdir()
        args = [os.path.join(TOOLS, f"train_{tool}.py"), config, "--work-dir", out,
                "--cfg-options", "compile.backend=tvm"]
        if tool == "cls":
            from c3_dense.data.cifar import write_cifar100_like
            write_cifar100_like(str(data), train_per_class=1, test_per_class=1)
            args += [f"{s}_dataloader.dataset.{k}" for s in ("train", "val")
                     for k in (f"data_root={data}", "verify_md5=False")]
        else:
            from c3_dense.data import make_demo_dataset
            voc = os.path.join(make_demo_dataset(str(data / "c3_demo"),
                                                 splits={"train": 2, "test": 1}), "VOC")
            args += [f"{s}_dataloader.dataset.data_root={voc}" for s in ("train", "val")]
        key = "compile.backend 'tvm'"
    env = {"DETECTRON2_DATASETS": str(tmp_path / "data")}
    if tool == "det":
        from c3_dense.data import make_demo_dataset
        make_demo_dataset(str(tmp_path / "data" / "c3_demo"), splits={"train": 2, "test": 1})
    line = one_error(run(args, env=env), key)
    assert "needs the module tvm" in line and "tvm," not in line.split("use one of")[-1]
    assert not out.exists()


def test_an_unknown_mmengine_compile_key_is_named(tmp_path):
    pytest.importorskip("mmpretrain")
    import c3_dense.mmpretrain  # noqa: F401
    from c3_dense.openmmlab.engine import check_compile
    from mmengine.config import Config

    for option, expected in ((dict(backend="inductr"), "'inductr' is not a torch.compile backend"),
                             (dict(mode="fastest"), "compile.mode 'fastest' is not"),
                             (dict(fullgrph=True), "compile.fullgrph is not an argument"),
                             ("yes", "compile is 'yes'")):
        with pytest.raises(UserInputError, match=expected):
            check_compile(Config(dict(compile=option)))
    check_compile(Config(dict(compile=dict(backend="eager", dynamic=True))))
    check_compile(Config(dict(compile=False)))


def test_a_misspelled_network_argument_is_the_network_s_not_the_block_s():
    from c3_dense.models import create

    with pytest.raises(TypeError, match=r"CifarResNet\(\) got an unexpected keyword argument "
                                        r"'widn': neither one of its own arguments nor a C3 option"):
        create("cifar_resnet20_c3", widn=2)
    with pytest.raises(TypeError, match=r"resnet18\(\) got an unexpected keyword argument 'num_clases'"):
        create("resnet18_c3", num_clases=10)


def test_openmmlab_c3_options_name_their_config_key():
    pytest.importorskip("mmseg")
    import c3_dense.mmseg  # noqa: F401
    from c3_dense.mmseg.backbones import C3ResNetV1c

    with pytest.raises(ValueError, match=r"c3_cfg key 'reductoin' is not a C3 option"):
        C3ResNetV1c(depth=18, c3_cfg=dict(reductoin=4))
    with pytest.raises(ValueError, match=r"c3_windows\[1\]: window must be a positive int"):
        C3ResNetV1c(depth=18, c3_windows=(28, 0, 7))
    with pytest.raises(ValueError, match=r"c3_cfg.mode: mode must be one of"):
        C3ResNetV1c(depth=18, c3_cfg=dict(mode="stretch"))


# ------------------------------------------------------------------ a real full disk
def _cifar_args(tmp_path, out, epochs=3):
    from c3_dense.data.cifar import write_cifar100_like

    data = tmp_path / "data"
    if not data.exists():
        write_cifar100_like(str(data), train_per_class=1, test_per_class=1)
    options = ["--cfg-options", f"train_cfg.max_epochs={epochs}", "train_dataloader.batch_size=25",
               "train_dataloader.num_workers=0", "val_dataloader.num_workers=0",
               "train_cfg.val_interval=100"]
    for loader in ("train_dataloader", "val_dataloader", "test_dataloader"):
        options += [f"{loader}.dataset.data_root={data}", f"{loader}.dataset.verify_md5=False"]
    return [os.path.join(TOOLS, "train_cls.py"), CIFAR, "--work-dir", out] + options


def _cifar_checkpoint_mb():
    pytest.importorskip("mmpretrain")
    from mmengine.config import Config
    from c3_dense.mmpretrain.engine import build_model

    model = build_model(Config.fromfile(CIFAR))
    return checkpoint_size(model, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)) / 2 ** 20


def _seg_args(tmp_path, out):
    from c3_dense.data import make_demo_dataset

    voc = os.path.join(make_demo_dataset(str(tmp_path / "segdata" / "c3_demo"),
                                         splits={"train": 2, "test": 1}), "VOC")
    return [os.path.join(TOOLS, "train_seg.py"), SEG, "--work-dir", out, "--cfg-options",
            "train_cfg.max_iters=2", "train_dataloader.batch_size=2"] + [
        f"{s}_dataloader.dataset.data_root={voc}" for s in ("train", "val")]


@pytest.mark.slow
@pytest.mark.parametrize("tool", ["cls", "seg"])
def test_a_disk_too_small_for_one_checkpoint_is_refused_before_training(tmp_path, small_disk,
                                                                       tool):
    disk = small_disk(1)  # a CIFAR ResNet-20's checkpoint takes 2.7 MB, the demo DeepLab's more
    args = (_cifar_args if tool == "cls" else _seg_args)(tmp_path, disk / "run")
    result = run(args)
    line = one_error(result, "a checkpoint of this run takes about")
    assert f"the disk of {disk / 'run'} has" in line
    assert "free space on that disk or set another --work-dir" in line
    assert not any(n.endswith(".pth") for n in os.listdir(disk / "run"))
    assert "(train)" not in result.stdout  # no iteration logged: refused before training


@pytest.mark.slow
def test_a_disk_that_fills_up_mid_run_stops_in_one_line_and_resumes_when_freed(tmp_path,
                                                                              small_disk):
    size = _cifar_checkpoint_mb()
    disk = small_disk(size * 1.6 + 0.5)  # epoch_1 fits, epoch_2 does not
    work = disk / "run"
    result = run(_cifar_args(tmp_path, work))
    line = one_error(result, f"no room for {work / 'epoch_2.pth'} on its disk")
    assert "nothing was written under that name" in line
    assert f"resuming continues from {work / 'epoch_1.pth'}" in line
    names = sorted(os.listdir(work))
    assert "epoch_1.pth" in names and not any(n.startswith("epoch_2") for n in names), names
    assert (work / "last_checkpoint").read_text().strip() == str(work / "epoch_1.pth")
    load_torch_file(str(work / "epoch_1.pth"))  # complete

    small_disk.grow(disk, size * 8)  # the user frees space, then runs the command the line gave
    command = shlex.split(line.split("then resume with: ")[1])
    resumed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900,
                             env=dict(os.environ, PYTHONWARNINGS="ignore"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed epoch" in resumed.stdout + resumed.stderr
    whole = tmp_path / "whole"
    assert run(_cifar_args(tmp_path, whole)).returncode == 0
    a, b = (load_torch_file(str(f / "epoch_3.pth"))["state_dict"] for f in (whole, work))
    assert all(torch.equal(a[k], b[k]) for k in a), "the resumed run ends elsewhere"


@pytest.mark.slow
def test_convert_weights_onto_a_full_disk_writes_nothing(tmp_path, small_disk):
    from c3_dense.models import create

    checkpoint = tmp_path / "epoch_1.pth"
    torch.save({"state_dict": {f"backbone.{k}": v for k, v in
                               create("resnet18").state_dict().items()}}, checkpoint)
    disk = small_disk(8)  # the R-18 backbone takes about 45 MB
    line = one_error(run([os.path.join(TOOLS, "convert_weights.py"), checkpoint,
                          disk / "r18.pkl", "--to", "detectron2"]), f"no room for {disk / 'r18.pkl'}")
    assert "write the output elsewhere" in line
    assert os.listdir(disk) == []


@pytest.fixture(scope="module")
def det_data(tmp_path_factory):
    pytest.importorskip("detectron2")
    from c3_dense.data import make_demo_dataset

    base = tmp_path_factory.mktemp("faults_det")
    make_demo_dataset(str(base / "c3_demo"), splits={"train": 4, "test": 2})
    return base


DET_FAST = ["SOLVER.IMS_PER_BATCH", "2", "SOLVER.WARMUP_ITERS", "1", "SOLVER.STEPS", "(100,)",
            "SOLVER.CHECKPOINT_PERIOD", "2", "TEST.EVAL_PERIOD", "0", "SEED", "0",
            "MODEL.RPN.POST_NMS_TOPK_TEST", "50"]


def _det_checkpoint_mb():
    import c3_dense.detectron2  # noqa: F401
    from c3_dense.detectron2.engine import Trainer, setup_cfg

    cfg = setup_cfg(DET, ["MODEL.DEVICE", "cpu"])
    model = Trainer.build_model(cfg)
    return checkpoint_size(model, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)) / 2 ** 20


@pytest.mark.slow
def test_a_detector_on_a_full_disk_stops_without_evaluating_and_resumes(det_data, small_disk):
    size = _det_checkpoint_mb()
    disk = small_disk(size * 1.6 + 1)
    out = disk / "run"
    env = {"DETECTRON2_DATASETS": str(det_data)}
    args = [os.path.join(TOOLS, "train_det.py"), "--config-file", DET, *DET_FAST,
            "SOLVER.MAX_ITER", "4", "OUTPUT_DIR", out]
    result = run(args, env=env)
    line = one_error(result, f"no room for {out / 'model_0000003.pth'} on its disk")
    assert f"resuming continues from {out / 'model_0000001.pth'}" in line
    names = set(os.listdir(out))
    assert "model_0000001.pth" in names and not any(n.startswith("model_0000003") for n in names)
    assert "model_final.pth" not in names and "final_metrics.json" not in names
    assert "inference" not in names  # no final evaluation after the failed save
    assert (out / "last_checkpoint").read_text() == "model_0000001.pth"

    small_disk.grow(disk, size * 8)
    command = shlex.split(line.split("then resume with: ")[1])
    resumed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900,
                             env=dict(os.environ, PYTHONWARNINGS="ignore", **env))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Starting training from iteration 2" in resumed.stdout + resumed.stderr
    assert (out / "model_final.pth").exists() and (out / "final_metrics.json").exists()


@pytest.mark.slow
def test_resuming_a_detector_run_holding_another_model_s_checkpoint_is_one_line(det_data,
                                                                               tmp_path):
    out = tmp_path / "run"
    env = {"DETECTRON2_DATASETS": str(det_data)}
    plain = os.path.join(CONFIGS, "detectron2", "Demo", "faster_rcnn_R_18_FPN.yaml")
    first = run([os.path.join(TOOLS, "train_det.py"), "--config-file", plain, *DET_FAST,
                 "SOLVER.MAX_ITER", "2", "DATASETS.TEST", "()", "OUTPUT_DIR", out], env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    before = (out / "model_final.pth").read_bytes()
    line = one_error(run([os.path.join(TOOLS, "train_det.py"), "--config-file", DET, "--resume",
                          *DET_FAST, "SOLVER.MAX_ITER", "4", "OUTPUT_DIR", out], env=env),
                     f"cannot resume from {out / 'model_final.pth'}")
    assert "resume with the config that wrote it" in line
    assert (out / "model_final.pth").read_bytes() == before
    # Fine-tuning from a checkpoint that the run would write over: refused, the file kept.
    line = one_error(run([os.path.join(TOOLS, "train_det.py"), "--config-file", plain,
                          "--overwrite", *DET_FAST, "SOLVER.MAX_ITER", "2", "MODEL.WEIGHTS",
                          out / "model_final.pth", "OUTPUT_DIR", out], env=env),
                     "that this run would write over")
    assert (out / "model_final.pth").read_bytes() == before


# ------------------------------------------------------------------ inputs that said nothing
def test_a_config_name_that_is_no_file_here_says_which_shipped_config_it_uses(tmp_path,
                                                                              monkeypatch,
                                                                              capsys):
    from c3_dense.model_zoo import resolve_config

    monkeypatch.chdir(tmp_path)
    name = "configs/detectron2/PascalVOC07/faster_rcnn_R_50_FPN_c3.yaml"
    found = resolve_config(name)
    assert found == os.path.join(CONFIGS, "detectron2", "PascalVOC07", "faster_rcnn_R_50_FPN_c3.yaml")
    assert f"config {name}: no such file here, so the shipped config {found} is used" in \
        capsys.readouterr().out
    with pytest.raises(UserInputError, match="not found; check the path"):
        resolve_config(str(tmp_path / name))  # absolute: the user's own file, which is missing
    (tmp_path / "mine.yaml").write_text("x: 1")
    assert resolve_config("mine.yaml") == "mine.yaml" and capsys.readouterr().out == ""


@pytest.mark.slow
def test_ground_truth_boxes_outside_their_image_are_named_once(det_data, tmp_path):
    import json

    data = tmp_path / "data"
    shutil.copytree(det_data, data)
    path = data / "c3_demo" / "annotations" / "instances_test.json"
    content = json.loads(path.read_text())
    content["annotations"][0]["bbox"] = [100, 90, 60, 20]  # reaches past 128 on the right
    path.write_text(json.dumps(content))
    result = run([os.path.join(TOOLS, "eval.py"), "det", "--config-file", DET, "--weights",
                  tmp_path / "missing.pth"], env={"DETECTRON2_DATASETS": str(data)})
    warnings = [line for line in result.stderr.splitlines() if "reach outside" in line]
    assert len(warnings) == 1, result.stderr[-2000:]
    assert warnings[0].startswith("warning: data set 'c3demo_coco_test': 1 of ") and \
        "[100, 90, 160, 110] in a 128×128 image" in warnings[0], warnings[0]
    one_error(result, "missing.pth not found")  # the data are checked first, then the weights
