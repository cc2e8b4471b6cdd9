"""End to end through the command lines on a tiny generated data set: train, checkpoint,
--resume, eval.py det (model and --predictions), VOC and COCO evaluators, DDP on 2 CPU
processes, and the clear errors for bad data and configs."""
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

pytest.importorskip("detectron2", reason="needs detectron2 (make test installs it)")

from c3_dense.data import make_demo_dataset  # noqa: E402

pytestmark = pytest.mark.slow  # command lines end to end: make test-fast leaves these out
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "configs", "detectron2", "Demo")
FAST = ["SOLVER.IMS_PER_BATCH", "2", "SOLVER.WARMUP_ITERS", "1", "SOLVER.STEPS", "(100,)",
        "SOLVER.CHECKPOINT_PERIOD", "2", "MODEL.RPN.POST_NMS_TOPK_TEST", "50"]


@pytest.fixture(scope="module")
def data_base(tmp_path_factory):
    base = tmp_path_factory.mktemp("d2data")
    make_demo_dataset(str(base / "c3_demo"), splits={"train": 6, "test": 4})
    return base


def run_tool(args, base, timeout=600):
    env = dict(os.environ, DETECTRON2_DATASETS=str(base), PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def train(base, out, config="faster_rcnn_R_18_FPN_c3.yaml", extra=(), flags=()):
    args = [os.path.join("tools", "train_det.py"), "--config-file", os.path.join(DEMO, config),
            *flags, *FAST, "OUTPUT_DIR", str(out), *extra]
    return run_tool(args, base)


def strict_json(path):
    """The file as JSON that any reader takes: no NaN or Infinity (undefined APs are null)."""
    return json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"{c} in {path}"))


def test_train_eval_and_rescore(data_base, tmp_path):
    # (Resuming: the fallbacks below, and a SIGKILLed run in tests/test_workflows.py.)
    out = tmp_path / "run"
    first = train(data_base, out, extra=["SOLVER.MAX_ITER", "2"])
    assert first.returncode == 0, first.stderr[-3000:]
    assert (out / "model_final.pth").exists()
    metrics = strict_json(out / "final_metrics.json")
    assert set(metrics["summary"]["c3demo_coco_test"]) == {"AP", "AP50", "AP75", "APs", "APm", "APl"}

    ev = run_tool([os.path.join("tools", "eval.py"), "det", "--config-file",
                   os.path.join(DEMO, "faster_rcnn_R_18_FPN_c3.yaml"), "--weights",
                   str(out / "model_final.pth"), "--output-dir", str(tmp_path / "ev"),
                   "MODEL.RPN.POST_NMS_TOPK_TEST", "50"], data_base)
    assert ev.returncode == 0, ev.stderr[-3000:]
    # The metrics beside the weights they measure (--output-dir takes detectron2's own files).
    assert not (tmp_path / "ev" / "eval_metrics.json").exists()
    evaluated = strict_json(out / "model_final_eval.json")["summary"]
    assert "AP50" in evaluated["c3demo_coco_test"]
    assert "AP50" in ev.stdout
    assert "Start inference on 4 batches" in ev.stdout + ev.stderr  # detectron2's progress

    predictions = tmp_path / "ev" / "inference" / "c3demo_coco_test" / "coco_instances_results.json"
    assert predictions.exists()
    rescored = run_tool([os.path.join("tools", "eval.py"), "det", "--config-file",
                         os.path.join(DEMO, "faster_rcnn_R_18_FPN_c3.yaml"), "--predictions",
                         str(predictions), "--out", str(tmp_path / "rescored.json")], data_base)
    assert rescored.returncode == 0, rescored.stderr[-3000:]
    again = json.loads((tmp_path / "rescored.json").read_text())["summary"]["c3demo_coco_test"]
    for key in ("AP", "AP50", "AP75"):
        assert again[key] == pytest.approx(evaluated["c3demo_coco_test"][key], abs=1e-6,
                                           nan_ok=True)


@pytest.mark.adapter_path  # this adapter's one short path in make test-fast
def test_voc_layout_uses_the_voc_evaluator(data_base, tmp_path):
    result = train(data_base, tmp_path, config="faster_rcnn_R_18_FPN_voc.yaml",
                   extra=["SOLVER.MAX_ITER", "1", "MODEL.BACKBONE.NAME", "build_se_resnet_fpn_backbone"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "PascalVOCDetectionEvaluator" in (tmp_path / "log.txt").read_text() or \
        "11-point" in (tmp_path / "log.txt").read_text()
    summary = json.loads((tmp_path / "final_metrics.json").read_text())["summary"]
    assert set(summary["c3demo_voc_test"]) == {"AP", "AP50", "AP75"}


def test_ddp_on_two_cpu_processes(data_base, tmp_path):
    result = train(data_base, tmp_path, flags=["--num-gpus", "2", "--dist-url", "auto"],
                   extra=["SOLVER.MAX_ITER", "2", "SOLVER.IMS_PER_BATCH", "4"])
    assert result.returncode == 0, result.stderr[-3000:]
    log = (tmp_path / "log.txt").read_text()
    assert "world size: 2" in log.lower() or "Rank of current process: 0. World size: 2" in log
    assert (tmp_path / "model_final.pth").exists()


def _error_line(result):
    assert result.returncode == 2, result.stderr[-3000:]
    lines = [l for l in result.stderr.strip().splitlines() if l.startswith("error:")]
    assert len(lines) == 1, result.stderr[-3000:]
    return lines[0]


def test_missing_data_folder(tmp_path):
    line = _error_line(train(tmp_path / "empty", tmp_path / "o", extra=["SOLVER.MAX_ITER", "1"]))
    assert str(tmp_path / "empty") in line and "make_demo_data" in line


def test_misspelled_key(data_base, tmp_path):
    line = _error_line(train(data_base, tmp_path, extra=["MODEL.C3.WINDOW", "[4]"]))
    assert "MODEL.C3.WINDOW" in line and "WINDOWS" in line


@pytest.mark.parametrize("content,match", [("", "is empty"), ("{not json", "not valid JSON"),
                                           ('{"images": []}', "lacks")])
def test_broken_coco_annotations(tmp_path, content, match):
    base = tmp_path / "d"
    make_demo_dataset(str(base / "c3_demo"), splits={"train": 2, "test": 2})
    (base / "c3_demo" / "annotations" / "instances_train.json").write_text(content)
    line = _error_line(train(base, tmp_path / "o", extra=["SOLVER.MAX_ITER", "1"]))
    assert match in line and "instances_train.json" in line


def test_corrupt_voc_annotation(tmp_path):
    base = tmp_path / "d"
    make_demo_dataset(str(base / "c3_demo"), splits={"train": 2, "test": 2})
    (base / "c3_demo" / "VOC" / "Annotations" / "train_00001.xml").write_text("<annotation><obj")
    line = _error_line(train(base, tmp_path / "o", config="faster_rcnn_R_18_FPN_voc.yaml",
                             extra=["SOLVER.MAX_ITER", "1"]))
    assert "train_00001.xml" in line and "corrupt" in line


def test_weights_of_another_architecture(data_base, tmp_path):
    out = tmp_path / "r18"
    assert train(data_base, out, extra=["SOLVER.MAX_ITER", "1"]).returncode == 0
    line = _error_line(train(data_base, tmp_path / "r34", extra=[
        "SOLVER.MAX_ITER", "1", "MODEL.RESNETS.DEPTH", "34", "MODEL.WEIGHTS",
        str(out / "model_final.pth")]))
    assert "do not fit" in line



def test_amp_without_cuda_is_one_clear_error(data_base, tmp_path):
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: AMP runs instead of failing")
    line = _error_line(train(data_base, tmp_path, extra=["SOLVER.MAX_ITER", "1",
                                                         "SOLVER.AMP.ENABLED", "True"]))
    assert "SOLVER.AMP.ENABLED needs a CUDA GPU" in line


# --------------------------------------------------------------- weights files and run folders
class _RunsCode:
    """A "weights file" whose unpickling would run a command."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _crafted_pkl(tmp_path):
    import pickle
    marker = tmp_path / "code_ran"
    path = tmp_path / "R-50.pkl"
    path.write_bytes(pickle.dumps({"model": {"stem.conv1.weight": _RunsCode(marker)},
                                   "__author__": "x"}))
    return path, marker


@pytest.fixture(scope="module")
def finished_run(data_base, tmp_path_factory):
    out = tmp_path_factory.mktemp("finished")
    result = train(data_base, out, extra=["SOLVER.MAX_ITER", "2"])
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def test_crafted_pkl_never_runs_code_in_any_loader(data_base, finished_run, tmp_path):
    import shutil
    path, marker = _crafted_pkl(tmp_path)
    config = os.path.join(DEMO, "faster_rcnn_R_18_FPN_c3.yaml")
    resumed = tmp_path / "resumed"
    shutil.copytree(finished_run, resumed)
    shutil.copy(path, resumed / "model_0000009.pkl")
    (resumed / "last_checkpoint").write_text("model_0000009.pkl")
    calls = {
        "MODEL.WEIGHTS": train(data_base, tmp_path / "o1", extra=["SOLVER.MAX_ITER", "1",
                                                                   "MODEL.WEIGHTS", str(path)]),
        "eval.py det": run_tool([os.path.join("tools", "eval.py"), "det", "--config-file", config,
                                 "--weights", str(path), "--output-dir", str(tmp_path / "o2")],
                                data_base),
        "--resume": train(data_base, resumed, extra=["SOLVER.MAX_ITER", "4"], flags=["--resume"]),
        "--eval-only": train(data_base, tmp_path / "o3", extra=["MODEL.WEIGHTS", str(path)],
                             flags=["--eval-only"]),
        "diversity.py": run_tool([os.path.join("tools", "diversity.py"), "--det-config", config,
                                  "--weights", str(path), "--size", "32", "--limit", "2"],
                                 data_base),
    }
    for name, result in calls.items():
        line = _error_line(result)
        assert "refusing to unpickle" in line and "R-50.pkl" in line or \
            "model_0000009.pkl" in line, (name, line)
    assert not marker.exists()


def test_c3_checkpoint_under_the_plain_config_is_refused(data_base, finished_run, tmp_path):
    line = _error_line(train(data_base, tmp_path / "plain", config="faster_rcnn_R_18_FPN.yaml",
                             extra=["SOLVER.MAX_ITER", "1", "MODEL.WEIGHTS",
                                    str(finished_run / "model_final.pth")]))
    assert "C3/SE blocks" in line and "_c3" in line


def test_a_finished_run_is_not_overwritten(data_base, finished_run, tmp_path):
    before = (finished_run / "model_final.pth").read_bytes()
    line = _error_line(train(data_base, finished_run, extra=["SOLVER.MAX_ITER", "2"]))
    assert "already holds a run" in line and "--resume" in line and "--overwrite" in line
    assert (finished_run / "model_final.pth").read_bytes() == before
    line = _error_line(train(data_base, tmp_path / "x", extra=[
        "SOLVER.MAX_ITER", "1", "OUTPUT_DIR", str(finished_run / "model_final.pth")]))
    assert "is a file, not a folder" in line


def test_overwrite_starts_the_metrics_log_anew(data_base, finished_run, tmp_path):
    # detectron2 appends to metrics.json; a run trained over another must not continue it.
    import shutil
    out = tmp_path / "again"
    shutil.copytree(finished_run, out)
    (out / "metrics.json").write_text(json.dumps({"iteration": 999, "total_loss": 9.0}) + "\n")
    result = train(data_base, out, extra=["SOLVER.MAX_ITER", "1"], flags=["--overwrite"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "metrics.json of the earlier run removed" in result.stdout
    rows = [json.loads(line) for line in (out / "metrics.json").read_text().splitlines() if line]
    assert rows and all(row["iteration"] <= 1 for row in rows), [r["iteration"] for r in rows]


def test_resume_falls_back_to_the_newest_readable_checkpoint(data_base, tmp_path):
    # One finished run, copied and damaged two ways.
    first = tmp_path / "first"
    result = train(data_base, first, extra=["SOLVER.MAX_ITER", "4", "SOLVER.CHECKPOINT_PERIOD", "2"])
    assert result.returncode == 0, result.stderr[-3000:]
    good = (first / "model_0000001.pth").read_bytes()
    for damage in ("truncated newest", "empty last_checkpoint"):
        out = tmp_path / damage.replace(" ", "_")
        shutil.copytree(first, out)
        if damage == "truncated newest":
            data = (out / "model_final.pth").read_bytes()
            (out / "model_final.pth").write_bytes(data[: len(data) // 3])
        else:
            (out / "last_checkpoint").write_text("")
        resumed = train(data_base, out, extra=["SOLVER.MAX_ITER", "6"], flags=["--resume"])
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        if damage == "truncated newest":
            assert "resume: skipping" in resumed.stderr and "model_final.pth" in resumed.stderr
        # model_0000003.pth: the newest readable (and, without last_checkpoint, the newest).
        assert "Starting training from iteration 4" in (out / "log.txt").read_text(), damage
        assert (out / "model_0000001.pth").read_bytes() == good


def _final_weights(path):
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


@pytest.mark.parametrize("seed", ["-1"])
def test_a_killed_and_resumed_run_ends_where_the_uninterrupted_one_does(data_base, tmp_path, seed):
    # Random multi-scale resizing and flips, aspect grouping, 2 of 6 images per batch; with
    # SEED -1 the drawn seed must come back from the run's config.yaml. (SEED 0, with a real
    # SIGKILL: tests/test_workflows.py.)
    extra = ["SOLVER.MAX_ITER", "6", "SOLVER.CHECKPOINT_PERIOD", "3", "SEED", seed,
             "INPUT.MIN_SIZE_TRAIN", "(96, 112, 128)", "INPUT.RANDOM_FLIP", "horizontal",
             "TEST.EVAL_PERIOD", "0", "DATASETS.TEST", "()"]
    run = tmp_path / "run"
    whole = train(data_base, run, extra=extra)
    assert whole.returncode == 0, whole.stderr[-3000:]
    uninterrupted = _final_weights(run / "model_final.pth")
    # "Kill" it after iteration 3: only the first periodic checkpoint survives.
    (run / "model_final.pth").unlink()
    (run / "model_0000005.pth").unlink(missing_ok=True)
    (run / "last_checkpoint").write_text("model_0000002.pth")
    resumed = train(data_base, run, extra=extra, flags=["--resume"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Starting training from iteration 3" in (run / "log.txt").read_text()
    after = _final_weights(run / "model_final.pth")
    assert uninterrupted.keys() == after.keys()
    for key in uninterrupted:
        assert torch.equal(uninterrupted[key], after[key]), key
