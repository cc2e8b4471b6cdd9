"""OpenMMLab's model index of the shipped configs (what `mim search c3_dense` reads) and the
scripts `mim train` / `mim test` run; the installed path itself is tested in
tests/test_package.py (mim in a fresh venv)."""
import os

import pytest

from c3_dense import model_zoo
from c3_dense.errors import UserInputError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("framework", model_zoo.FRAMEWORKS)
def test_the_committed_metafiles_are_what_the_model_zoo_says(framework):
    path = os.path.join(ROOT, "configs", framework, "metafile.yml")
    with open(path, encoding="utf-8") as f:
        committed = f.read()
    assert committed == model_zoo.metafile_text(model_zoo.metafile(framework)), (
        f"{path} is stale: c3-configs {framework} --metafile > configs/{framework}/metafile.yml")
    with open(os.path.join(ROOT, "model-index.yml"), encoding="utf-8") as f:
        assert f.read() == model_zoo.metafile_text(model_zoo.model_index())


def test_the_model_index_loads_with_openmmlab_s_reader_and_says_only_what_is_known():
    load = pytest.importorskip("modelindex.load_model_index",
                               reason="needs model-index (make test installs it)").load
    index = load(os.path.join(ROOT, "model-index.yml"))
    names = model_zoo.list_configs()
    assert len(index.models) == len(names)
    for model, name in zip(sorted(index.models, key=lambda m: m.config), sorted(names)):
        assert model.config == f"configs/{name}" and os.path.isfile(os.path.join(ROOT, model.config))
        info = model_zoo.describe(name)
        meta = model.metadata.data
        assert meta["Weights"] == "not released" and not getattr(model, "weights", None)
        if info["paper"] is None:
            assert not model.results and "Results from" not in meta
        else:  # the paper's number, labelled as the paper's
            (metric, value), = model.results[0].metrics.items()
            assert value == info["paper"]["value"] and "the paper's" in meta["Results from"]
    coco = [m for m in index.models if m.name == "detectron2/coco-1x/faster_rcnn_r_101_fpn_c3"]
    assert coco[0].results[0].metrics == {"box AP": 34.8}
    voc = [m for m in index.models
           if m.name == "mmdet/faster_rcnn/faster-rcnn_r101_fpn_1x_voc07_c3"]
    assert voc[0].results[0].metrics == {"mAP": 75.6}
    with pytest.raises(UserInputError, match="unknown framework"):
        model_zoo.metafile("mmdet3d")


def _user_config(tmp_path, scope):
    path = tmp_path / f"my_{scope}.py"
    path.write_text(f"default_scope = {scope!r}\nmodel = dict(type='X')\n")
    return str(path)


def test_mim_s_scripts_run_the_config_s_own_command_line(tmp_path):
    pytest.importorskip("mmengine", reason="needs mmengine (make test installs it)")
    from c3_dense.cli import eval as evaluate
    from c3_dense.cli import mim_tools, train_cls, train_det, train_mmdet, train_seg

    det = model_zoo.get_config_file("PascalVOC07/faster_rcnn_R_50_FPN_c3.yaml")
    seg = model_zoo.get_config_file("mmseg/demo/deeplabv2_r18-d8_demo_c3.py")
    main, args = mim_tools._command([det, "--launcher", "none", "--work-dir", "out",
                                     "SOLVER.MAX_ITER", "2"], testing=False)
    assert main is train_det.main and args == ["--config-file", det, "SOLVER.MAX_ITER", "2",
                                               "OUTPUT_DIR", "out"]
    main, args = mim_tools._command([det, "w.pth", "--launcher", "none"], testing=True)
    assert main is evaluate.main and args == ["det", "--config-file", det, "--weights", "w.pth"]
    main, args = mim_tools._command([seg, "--launcher", "pytorch", "--work-dir", "w"], False)
    assert main is train_seg.main and args == [seg, "--launcher", "pytorch", "--work-dir", "w"]
    main, args = mim_tools._command([seg, "c.pth", "--launcher", "none"], testing=True)
    assert main is evaluate.main and args == ["seg", seg, "c.pth"]
    mmdet = model_zoo.get_config_file("mmdet/demo/faster-rcnn_r18_fpn_demo_c3.py")
    assert mim_tools._command([mmdet, "--work-dir", "w"], False) == (train_mmdet.main,
                                                                     [mmdet, "--work-dir", "w"])
    assert mim_tools._command([mmdet, "c.pth"], True) == (evaluate.main, ["mmdet", mmdet, "c.pth"])
    assert mim_tools._command([_user_config(tmp_path, "mmdet"), "c.pth"], True)[1][0] == "mmdet"
    mine = _user_config(tmp_path, "mmpretrain")
    assert mim_tools._command([mine], testing=False)[0] is train_cls.main
    assert mim_tools._command([mine, "c.pth"], testing=True)[1][0] == "cls"
    for argv, testing, message in (
            ([det, "--launcher", "slurm"], False, "detectron2 starts its own processes"),
            ([seg, "c.pth", "--launcher", "pytorch"], True, "one process"),
            ([seg, "--launcher", "none"], True, "needs CONFIG CHECKPOINT"),
            ([_user_config(tmp_path, "mmdet3d")], False, "default_scope 'mmdet3d' is none of"),
            ([str(tmp_path / "absent.py")], False, "config not found")):
        with pytest.raises(UserInputError, match=message):
            mim_tools._command(argv, testing)
    assert mim_tools.train([str(tmp_path / "absent.py")]) == 2  # one error line, exit 2
