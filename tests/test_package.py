"""The installed package, without the repository: the wheel holds the configs (found by
c3_dense.model_zoo) and the command lines (console scripts and ``python -m c3_dense``). The
wheel is built here, installed into a fresh virtual environment outside the checkout (the
frameworks come from this venv through a path file, so nothing is downloaded), and used from
an empty folder: look up a config, train one iteration, run inference on the result."""
import glob
import json
import os
import re
import subprocess
import sys
import sysconfig
import venv

import pytest

pytest.importorskip("detectron2", reason="needs detectron2 (make test installs it)")

from c3_dense.cli import TOOLS  # noqa: E402
from c3_dense.data import make_demo_dataset  # noqa: E402
from c3_dense import model_zoo  # noqa: E402

pytestmark = pytest.mark.slow  # builds a wheel and a venv: make test-fast leaves this out
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_config_of_the_checkout_is_found_by_name():
    shipped = model_zoo.list_configs()
    on_disk = [os.path.relpath(p, os.path.join(ROOT, "configs")) for p in
               glob.glob(os.path.join(ROOT, "configs", "*", "**", "*.*"), recursive=True)
               if "_base_" not in p and not os.path.basename(p).startswith("Base-")
               and os.path.basename(p) != "metafile.yml"]
    assert sorted(shipped) == sorted(on_disk) and len(shipped) > 60
    for name in shipped:
        assert model_zoo.get_config_file(name) == os.path.join(ROOT, "configs", name)
    # Without the framework folder, when one framework has it.
    assert model_zoo.get_config_file("PascalVOC07/faster_rcnn_R_50_FPN_c3.yaml") == \
        os.path.join(ROOT, "configs", "detectron2", "PascalVOC07", "faster_rcnn_R_50_FPN_c3.yaml")
    with pytest.raises(Exception, match="not found: neither a file nor a shipped config.*"
                                        "PascalVOC07/faster_rcnn_R_50_FPN_c3.yaml"):
        model_zoo.get_config_file("PascalVOC12/faster_rcnn_R_50_FPN_c3.yaml")


def wheel_and_fresh_venv(base):
    """The package's wheel built from the checkout into ``base/wheels`` and a fresh venv at
    ``base/venv`` (nothing installed yet): (wheel, venv folder, its python, its site-packages)."""
    wheels = base / "wheels"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                            "--no-build-isolation", "-q", "-w", str(wheels), ROOT],
                           capture_output=True, text=True, cwd=str(base))
    assert built.returncode == 0, built.stderr[-3000:]
    wheel, = glob.glob(str(wheels / "c3_dense-*.whl"))
    env_dir = base / "venv"
    venv.create(str(env_dir), with_pip=True)
    python = str(env_dir / "bin" / "python")
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    return wheel, env_dir, python, site


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    base = tmp_path_factory.mktemp("installed")
    wheel, env_dir, python, site = wheel_and_fresh_venv(base)
    # The frameworks from this venv; .pth files there are not run, so its editable
    # c3_dense stays invisible and only the wheel's is importable.
    with open(os.path.join(site, "frameworks.pth"), "w") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")
    installed = subprocess.run([python, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                                wheel], capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr[-3000:]
    return env_dir, site


def run_in(env_dir, cwd, *args, **env):
    full_env = dict(os.environ, PYTHONWARNINGS="ignore", **env)
    full_env.pop("PYTHONPATH", None)
    return subprocess.run(list(args), cwd=str(cwd), capture_output=True, text=True,
                          env=full_env, timeout=900)


def test_the_wheel_alone_gives_configs_tools_training_and_inference(installed, tmp_path):
    env_dir, site = installed
    bin_dir = env_dir / "bin"
    work = tmp_path / "user"
    work.mkdir()
    # The package and its configs come from the installed wheel, not the checkout.
    where = run_in(env_dir, work, str(bin_dir / "python"), "-c",
                   "import c3_dense, json; from c3_dense import model_zoo; print(json.dumps("
                   "[c3_dense.__file__, model_zoo.get_config_file("
                   "'Demo/faster_rcnn_R_18_FPN_c3.yaml'), len(model_zoo.list_configs())]))")
    assert where.returncode == 0, where.stderr[-3000:]
    package, config, count = json.loads(where.stdout.strip().splitlines()[-1])
    assert package.startswith(site) and config.startswith(site) and os.path.isfile(config)
    assert count == len(model_zoo.list_configs())
    for tool in TOOLS:
        assert (bin_dir / f"c3-{tool.replace('_', '-')}").exists(), tool
    listed = run_in(env_dir, work, str(bin_dir / "python"), "-m", "c3_dense", "--help")
    assert listed.returncode == 0 and "train_det" in listed.stdout

    data = tmp_path / "data"
    make_demo_dataset(str(data / "c3_demo"), splits={"train": 2, "test": 1})
    trained = run_in(env_dir, work, str(bin_dir / "c3-train-det"), "--config-file",
                     "Demo/faster_rcnn_R_18_FPN_c3.yaml", "SOLVER.MAX_ITER", "1",
                     "SOLVER.IMS_PER_BATCH", "1", "SOLVER.WARMUP_ITERS", "1",
                     "SOLVER.STEPS", "(100,)", "TEST.EVAL_PERIOD", "0", "DATASETS.TEST", "()",
                     "OUTPUT_DIR", "out", DETECTRON2_DATASETS=str(data))
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert (work / "out" / "model_final.pth").exists()

    image = sorted(glob.glob(str(data / "c3_demo" / "**" / "*.jpg"), recursive=True))[0]
    inferred = run_in(env_dir, work, str(bin_dir / "python"), "-m", "c3_dense", "infer", "det",
                      "Demo/faster_rcnn_R_18_FPN_c3.yaml", "out/model_final.pth", image,
                      "--out", "pictures", DETECTRON2_DATASETS=str(data))
    assert inferred.returncode == 0, inferred.stderr[-3000:]
    predictions = json.loads((work / "pictures" / "predictions.json").read_text())
    assert predictions["task"] == "det" and len(predictions["images"]) == 1
    assert predictions["config"].startswith(site)
    assert (work / "pictures" / (os.path.splitext(os.path.basename(image))[0] + ".png")).exists()
    # An mmseg config's _base_ chain resolves inside the installed package too.
    seg = run_in(env_dir, work, str(bin_dir / "python"), "-c",
                 "import c3_dense.mmseg; from c3_dense.mmseg.engine import load_config; "
                 "cfg = load_config('mmseg/demo/deeplabv2_r18-d8_demo_c3.py'); "
                 "print(cfg.model.backbone.type)")
    assert seg.returncode == 0 and seg.stdout.strip().splitlines()[-1] == "C3ResNetV1c", \
        seg.stderr[-3000:]


def test_the_wheel_carries_the_licence_and_its_metadata(installed):
    _, site = installed
    info, = glob.glob(os.path.join(site, "c3_dense-*.dist-info"))
    licence = glob.glob(os.path.join(info, "**", "LICENSE"), recursive=True)
    assert len(licence) == 1
    with open(licence[0]) as f, open(os.path.join(ROOT, "LICENSE")) as ours:
        text = f.read()
        assert text == ours.read() and "Apache License" in text and "Version 2.0" in text
    with open(os.path.join(info, "METADATA")) as f:
        metadata = f.read()
    for line in ("License: Apache-2.0", "Classifier: License :: OSI Approved :: Apache Software "
                 "License", "Author: the c3_dense authors", "Description-Content-Type: "
                 "text/markdown"):
        assert line in metadata, line
    assert "## Two commands" in metadata  # the long description is the README


BLOCKER = '''
import sys
BLOCKED = set({blocked!r})
class _NotInstalled:
    """Makes these modules absent, as in an environment that lacks them."""
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, _NotInstalled())
'''


@pytest.mark.parametrize("blocked,args,part", [
    (["detectron2"], ["tools/train_det.py", "--config-file", "Demo/faster_rcnn_R_18_FPN_c3.yaml"],
     "detectron2"),
    (["detectron2"], ["tools/eval.py", "det", "--config-file", "Demo/faster_rcnn_R_18_FPN_c3.yaml",
                      "--weights", "w.pth"], "detectron2"),
    (["mmengine"], ["tools/train_seg.py", "mmseg/demo/deeplabv2_r18-d8_demo_c3.py"], "mmseg"),
    (["mmpretrain"], ["tools/train_cls.py",
                      "mmpretrain/cifar100/resnet20_1xb128-160e_cifar100_c3.py"], "mmpretrain"),
    (["mmseg"], ["tools/eval.py", "seg", "mmseg/demo/deeplabv2_r18-d8_demo_c3.py", "w.pth"],
     "mmseg"),
    (["mmdet"], ["tools/train_mmdet.py", "mmdet/demo/faster-rcnn_r18_fpn_demo_c3.py"], "mmdet"),
    (["mmdet"], ["tools/eval.py", "mmdet", "mmdet/demo/faster-rcnn_r18_fpn_demo_c3.py", "w.pth"],
     "mmdet"),
    (["pkg_resources"], ["tools/train_seg.py", "mmseg/deeplabv2/"
                         "deeplabv2_r50-d8_4xb4-20k_voc12aug-512x512_c3.py"], "setuptools"),
])
def test_a_missing_framework_is_one_line_naming_the_command_that_installs_it(tmp_path, blocked,
                                                                             args, part):
    (tmp_path / "sitecustomize.py").write_text(BLOCKER.format(blocked=blocked))
    env = dict(os.environ, PYTHONPATH=str(tmp_path), PYTHONWARNINGS="ignore")
    result = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=600)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 2 and len(errors) == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert f"{sys.executable} -m c3_dense setup --only {part}" in errors[0], errors[0]
    if part == "setuptools":
        assert 'pip install "setuptools<81"' in errors[0]


def test_the_setup_command_checks_every_part_and_installs_nothing_when_all_are_there():
    result = subprocess.run([sys.executable, "-m", "c3_dense", "setup"], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    for part in ("setuptools", "detectron2", "mmseg", "mmpretrain"):
        assert f"[setup] {part:<12} ok" in result.stdout
    assert "$ " not in result.stdout  # no pip call
    bad = subprocess.run([sys.executable, "-m", "c3_dense", "setup", "--only", "mmdet3d"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and "invalid choice: 'mmdet3d'" in bad.stderr


WHEELHOUSE = os.path.join(ROOT, ".venv", "wheelhouse")  # `make test` downloads it first


def _link_distributions(names, target):
    """Symlinks in ``target`` to the installed files of ``names`` and everything they require
    (their top-level folders and their dist-info): a fresh venv that sees only these, through
    a path file, has them installed as pip's metadata says, and nothing else of this venv."""
    from importlib import metadata

    from packaging.requirements import Requirement

    seen, todo = set(), [(name, "") for name in names]
    while todo:  # (distribution, extra): torch asks for cuda-toolkit[cudart, ...]
        name, extra = todo.pop()
        name = name.lower().replace("_", "-")
        if (name, extra) in seen or name in ("setuptools", "wheel"):  # the venv's own
            continue
        seen.add((name, extra))
        dist = metadata.distribution(name)
        for line in dist.requires or ():
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": extra}):
                todo += [(requirement.name, e) for e in ("", *requirement.extras)]
        for path in dist.files or ():
            top = path.parts[0]
            link = os.path.join(target, top)
            source = os.path.normpath(str(dist.locate_file(top)))
            if top != ".." and not os.path.lexists(link) and os.path.exists(source):
                os.symlink(source, link)
    return {name for name, _ in seen}


@pytest.mark.skipif(not os.path.isdir(WHEELHOUSE),
                    reason="needs the wheels `make test` downloads first (make wheelhouse)")
def test_the_readme_s_install_for_wheel_users_gives_a_working_stack(tmp_path):
    """The README's section for wheel users, in a fresh venv outside the checkout: pip install
    the wheel, then c3-setup, which installs setuptools, detectron2 (the re-tagged wheel),
    mmseg and mmpretrain from the wheels `c3-setup --download` fetched (the README's way for a
    machine without the index; tests reach none), then shipped configs train by name. torch,
    torchvision and numpy, the wheel's own requirements, are this venv's, seen through a path
    file (a second 5 GB CUDA build of torch would not fit a CI disk)."""
    wheel, env_dir, python, site = wheel_and_fresh_venv(tmp_path)
    bin_dir = env_dir / "bin"
    base = tmp_path / "torch"
    base.mkdir()
    linked = _link_distributions(["torch", "torchvision", "numpy"], str(base))
    assert not linked & {"detectron2", "sal-detectron2", "mmengine", "mmcv", "mmcv-lite",
                         "mmsegmentation", "mmpretrain", "fvcore", "c3-dense"}, linked
    with open(os.path.join(site, "torch.pth"), "w") as f:
        f.write(str(base) + "\n")
    work = tmp_path / "user"
    work.mkdir()
    offline = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": WHEELHOUSE}  # pip's own settings
    installed = run_in(env_dir, work, python, "-m", "pip", "install", "-q", wheel, **offline)
    assert installed.returncode == 0, installed.stdout[-2000:] + installed.stderr[-3000:]
    missing = run_in(env_dir, work, str(bin_dir / "c3-train-det"), "--config-file",
                     "Demo/faster_rcnn_R_18_FPN_c3.yaml")
    assert missing.returncode == 2 and \
        f"install it with: {python} -m c3_dense setup --only detectron2" in missing.stderr

    setup = run_in(env_dir, work, str(bin_dir / "c3-setup"), "--pip-options",
                   f"--no-index --find-links {WHEELHOUSE}")
    assert setup.returncode == 0, setup.stdout[-3000:] + setup.stderr[-3000:]
    # setuptools: torch's requirement may already have brought the pinned one from the wheels.
    assert re.search(r"\[setup\] setuptools +(ok|installed)", setup.stdout), setup.stdout
    for part in ("detectron2", "mmseg", "mmpretrain", "mmdet"):
        assert f"[setup] {part:<12} installed" in setup.stdout, setup.stdout
    where = run_in(env_dir, work, python, "-c",
                   "import c3_dense.openmmlab; c3_dense.openmmlab.prepare(); import json, detectron2, "
                   "mmseg, mmpretrain, mmdet, mmengine, setuptools; print(json.dumps([m.__file__ "
                   "for m in (detectron2, mmseg, mmpretrain, mmdet, mmengine, c3_dense.openmmlab)] + "
                   "[setuptools.__version__]))")
    assert where.returncode == 0, where.stderr[-3000:]
    *files, setuptools_version = json.loads(where.stdout.strip().splitlines()[-1])
    assert all(f.startswith(site) for f in files), files  # the fresh venv's own
    assert setuptools_version.split(".")[0] == "80"

    data = tmp_path / "data"
    make_demo_dataset(str(data / "c3_demo"), splits={"train": 2, "test": 1})
    det = run_in(env_dir, work, str(bin_dir / "c3-train-det"), "--config-file",
                 "Demo/faster_rcnn_R_18_FPN_c3.yaml", "SOLVER.MAX_ITER", "1",
                 "SOLVER.IMS_PER_BATCH", "1", "SOLVER.WARMUP_ITERS", "1", "SOLVER.STEPS",
                 "(100,)", "TEST.EVAL_PERIOD", "0", "DATASETS.TEST", "()", "OUTPUT_DIR", "det",
                 DETECTRON2_DATASETS=str(data))
    assert det.returncode == 0, det.stderr[-3000:]
    assert (work / "det" / "model_final.pth").exists()
    mmdet = run_in(env_dir, work, str(bin_dir / "c3-train-mmdet"),
                   "mmdet/demo/faster-rcnn_r18_fpn_demo_c3.py", "--work-dir", "mmdet",
                   "--cfg-options", "train_cfg.max_iters=1", "train_cfg.val_interval=1",
                   "default_hooks.checkpoint.interval=1", "train_dataloader.batch_size=1",
                   "val_dataloader=None", "val_cfg=None", "val_evaluator=None",
                   DETECTRON2_DATASETS=str(data))
    assert mmdet.returncode == 0, mmdet.stderr[-3000:]
    assert (work / "mmdet" / "iter_1.pth").exists()
    # OpenMMLab's mim, installed the README's way, finds the package's model index and trains
    # and tests a config by its file name (through the wheel's .mim/tools).
    mim = run_in(env_dir, work, str(bin_dir / "c3-setup"), "--only", "mim", "--pip-options",
                 f"--no-index --find-links {WHEELHOUSE}")
    assert mim.returncode == 0 and "[setup] mim          installed" in mim.stdout, \
        mim.stdout[-3000:] + mim.stderr[-3000:]
    found = run_in(env_dir, work, str(bin_dir / "mim"), "search", "c3_dense")
    assert found.returncode == 0, found.stdout[-3000:] + found.stderr[-3000:]
    listed = re.findall(r"config id: (\S+)", found.stdout)
    assert sorted(listed) == sorted(os.path.splitext(n)[0].lower() for n in model_zoo.list_configs())
    # mim compares config ids in lower case
    c3_coco = run_in(env_dir, work, str(bin_dir / "mim"), "search", "c3_dense", "--config",
                     "detectron2/coco-1x/faster_rcnn_r_101_fpn_c3", "--field", "coco/box_ap",
                     "weights", "results_from")
    assert c3_coco.returncode == 0, c3_coco.stderr[-3000:]
    assert re.search(r"coco/box_ap +34\.8\n", c3_coco.stdout), c3_coco.stdout  # the paper's
    assert "not released" in c3_coco.stdout and "the paper's" in c3_coco.stdout, c3_coco.stdout
    voc = data / "c3_demo" / "VOC"
    roots = [f"{split}_dataloader.dataset.data_root={voc}" for split in ("train", "val", "test")]
    seg = run_in(env_dir, work, str(bin_dir / "mim"), "train", "c3_dense",
                 "deeplabv2_r18-d8_demo_c3.py", "--work-dir", "seg", "--cfg-options",
                 "train_cfg.max_iters=1", "train_cfg.val_interval=100",
                 "default_hooks.checkpoint.interval=1", "param_scheduler.0.end=1",
                 "train_dataloader.batch_size=1", *roots)
    assert seg.returncode == 0, seg.stdout[-3000:] + seg.stderr[-3000:]
    assert (work / "seg" / "iter_1.pth").exists()
    tested = run_in(env_dir, work, str(bin_dir / "mim"), "test", "c3_dense",
                    "deeplabv2_r18-d8_demo_c3.py", "--checkpoint", "seg/iter_1.pth",
                    "--work-dir", "seg_test", "--out", "seg_test/metrics.json",
                    "--cfg-options", *roots)
    assert tested.returncode == 0, tested.stdout[-3000:] + tested.stderr[-3000:]
    assert "mIoU" in json.loads((work / "seg_test" / "metrics.json").read_text())["metrics"]
    cls = run_in(env_dir, work, python, "-c",
                 "from c3_dense import model_zoo; m = model_zoo.get('mmpretrain/cifar100/"
                 "resnet110_1xb128-160e_cifar100_c3.py'); print(type(m).__name__, "
                 "type(m.backbone).__name__)")
    assert cls.returncode == 0 and cls.stdout.split()[-2:] == ["ImageClassifier", "C3CifarResNet"], \
        cls.stderr[-3000:]


def test_the_wheel_s_setup_command_finds_the_stack(installed, tmp_path):
    # The README's install section for a wheel: `c3-setup` after `pip install` (here the
    # frameworks are visible through the path file, so every part is found and none installed;
    # tests reach no package index).
    env_dir, _ = installed
    # The venv's own setuptools (65, from ensurepip) would need the index to be replaced by
    # the pinned one: without it, setuptools too is this venv's, as the frameworks are.
    subprocess.run([str(env_dir / "bin" / "python"), "-m", "pip", "uninstall", "-q", "-y",
                    "setuptools"], check=True, capture_output=True)
    result = run_in(env_dir, tmp_path, str(env_dir / "bin" / "c3-setup"))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    from c3_dense.stack import PARTS
    assert result.stdout.count(" ok\n") == len(PARTS) == 5 and "$ " not in result.stdout
    assert f"ready: setuptools, detectron2, mmseg, mmpretrain, mmdet in {env_dir / 'bin' / 'python'}" \
        in result.stdout


def test_the_model_zoo_builds_configs_and_models_by_name_and_says_what_each_is():
    import torch
    from detectron2.config import CfgNode
    from mmengine.config import Config

    from c3_dense.errors import UserInputError

    cfg = model_zoo.get_config("PascalVOC07/faster_rcnn_R_50_FPN_c3.yaml",
                               ["MODEL.C3.FORM", "authors"])
    assert isinstance(cfg, CfgNode) and cfg.MODEL.C3.FORM == "authors" and cfg.is_frozen()
    detector = model_zoo.get("Demo/faster_rcnn_R_18_FPN_c3.yaml")
    assert not detector.training and any(".c3." in k for k in detector.state_dict())
    seg = model_zoo.get_config("mmseg/demo/deeplabv2_r18-d8_demo_c3.py",
                               {"model.backbone.c3_windows": (8, 8, 4)})
    assert isinstance(seg, Config) and tuple(seg.model.backbone.c3_windows) == (8, 8, 4)
    segmentor = model_zoo.get("mmseg/demo/deeplabv2_r18-d8_demo_c3.py")
    assert type(segmentor.backbone).__name__ == "C3ResNetV1c" and not segmentor.training
    classifier = model_zoo.get("mmpretrain/cifar100/resnet20_1xb128-160e_cifar100_c3-authors.py")
    with torch.no_grad():
        assert classifier.backbone(torch.randn(1, 3, 32, 32))[0].shape == (1, 64, 8, 8)
    with pytest.raises(UserInputError, match="no trained weights are released"):
        model_zoo.get("PascalVOC07/faster_rcnn_R_101_FPN_c3.yaml", trained=True)
    # What each config is: the paper's number only where the paper reports one for it.
    voc = model_zoo.describe("PascalVOC07/faster_rcnn_R_101_FPN_c3.yaml")
    assert (voc["task"], voc["data"], voc["variant"], voc["form"], voc["weights"]) == \
        ("detection", "voc", "c3", "paper", "not released")
    assert voc["paper"]["value"] == 75.6 and "paper's" in voc["paper"]["note"]
    assert model_zoo.describe("PascalVOC07/faster_rcnn_R_50_FPN_c3.yaml")["paper"] is None
    cifar = model_zoo.describe("mmpretrain/cifar100/resnet56_1xb128-160e_cifar100_c3-authors.py")
    assert cifar["paper"]["value"] == 72.27 and cifar["form"] == "authors"
    assert model_zoo.describe(
        "mmpretrain/cifar100/resnet56_1xb128-160e_cifar100_c3.py")["paper"] is None
    # A misspelled name suggests the near misses, not unrelated configs.
    with pytest.raises(UserInputError, match=r"did you mean detectron2/PascalVOC07/"
                                             r"faster_rcnn_R_50_FPN_c3.yaml"):
        model_zoo.get_config_file("PascalVOC07/faster_rcnn_R_50_FNP_c3.yaml")


def test_the_configs_command_lists_them():
    result = subprocess.run([sys.executable, "-m", "c3_dense", "configs", "mmseg", "--grep",
                             "voc12aug", "--grep", "r101", "--json"], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads(result.stdout)
    assert rows and all("voc12aug" in r["config"] and "r101" in r["config"] for r in rows)
    assert {r["variant"] for r in rows} == {"plain", "se", "c3"}
    assert all(r["paper"]["metric"] == "mIoU (VOC 2012 val)" for r in rows)
    table = subprocess.run([sys.executable, "-m", "c3_dense", "configs"], cwd=ROOT,
                           capture_output=True, text=True, timeout=600)
    assert table.returncode == 0 and f"{len(model_zoo.list_configs())} configs" in table.stdout
    none = subprocess.run([sys.executable, "-m", "c3_dense", "configs", "--grep", "nothing"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert none.returncode == 2 and none.stderr.startswith("error: no shipped config holds")
