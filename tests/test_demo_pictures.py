"""The demo end to end (--quick) and what it leaves: the report page (checked in headless
Chromium when installed), tools/infer.py and every tools/visualize.py subcommand on the demo
data and the demo's checkpoints; the picture helpers on their own."""
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.slow  # command lines end to end: make test-fast leaves these out
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DET_DEMO = os.path.join(ROOT, "configs", "detectron2", "Demo")
SEG_DEMO = os.path.join(ROOT, "configs", "mmseg", "demo")


def read_png(path):
    from PIL import Image
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def assert_not_blank(path):
    pixels = read_png(path).astype(np.float32)
    assert pixels.std() > 10, f"{path} is blank"
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50, f"{path} has almost no content"


# --- helpers on their own (no framework) ---------------------------------------------------

def test_top_channels_and_shares():
    from c3_dense.analysis.figures import response_shares, top_channels
    x = torch.zeros(5, 4, 4)
    x[3] = -2.0  # the strongest response, negative values count by magnitude
    x[1] = 1.0
    shares = response_shares(x)
    assert torch.allclose(shares.sum(), torch.tensor(1.0))
    index, values = top_channels(x, 2)
    assert index == [3, 1] and values == pytest.approx([2 / 3, 1 / 3])
    assert response_shares(torch.zeros(2, 3, 3)).sum() == 0  # no response: no NaN
    with pytest.raises(ValueError, match="C×H×W"):
        response_shares(torch.zeros(1, 2, 3, 3))


def test_channel_figure_and_grid_sizes(tmp_path):
    from c3_dense.analysis.figures import channel_figure, image_grid
    torch.manual_seed(0)
    out = channel_figure(torch.randn(16, 8, 8), torch.randn(16, 8, 8), str(tmp_path / "c.png"),
                         k=4, image=np.zeros((32, 32, 3), np.uint8))
    assert len(out["input"]["channels"]) == 4 and 0 < out["output"]["top_k_share"] <= 1
    assert_not_blank(tmp_path / "c.png")
    panel = (np.random.default_rng(0).random((40, 40, 3)) * 255).astype(np.uint8)
    image_grid([[panel] * 3, [panel] * 3], ["a", "b", "c"], str(tmp_path / "g.png"))
    h, w, _ = read_png(tmp_path / "g.png").shape
    assert 1.2 < w / h < 1.8  # three columns, two rows of square panels
    with pytest.raises(ValueError, match="row 0 has 2 panels for 3 columns"):
        image_grid([[panel] * 2], ["a", "b", "c"], str(tmp_path / "bad.png"))


def _drawn(monkeypatch):
    """The figures drawn, kept open instead of saved (matplotlib's objects to inspect)."""
    from c3_dense.analysis import figures
    kept = []
    monkeypatch.setattr(figures, "_save", lambda fig, path: kept.append(fig) or path)
    return kept


def test_curves_show_every_run_with_whole_iterations(monkeypatch, tmp_path):
    from c3_dense.analysis.figures import training_curves
    kept = _drawn(monkeypatch)
    same = {"loss": [(6, 1.2)], "AP": [(3, 1.0), (6, 2.0)]}  # one loss point; equal curves
    training_curves({"plain": same, "C3": dict(same)}, "AP", str(tmp_path / "c.png"))
    fig, = kept
    fig.canvas.draw()
    loss, metric = fig.axes
    for ax in (loss, metric):
        plain, c3 = ax.lines
        for line in (plain, c3):  # a single point is drawn as a marker, not an empty line
            assert line.get_marker() not in ("None", None, "") and line.get_markersize() > 0
        # the second run does not hide the first: another line style, open markers
        assert plain.get_linestyle() != c3.get_linestyle()
        assert c3.get_markerfacecolor() == "none" and plain.get_marker() != c3.get_marker()
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["plain", "C3"]
        ticks = [t.get_text().replace("\u2212", "-") for t in ax.get_xticklabels()]
        assert ticks and all(re.fullmatch(r"-?\d+", t) for t in ticks if t), ticks


def test_channel_maps_share_a_colour_bar_per_row_with_readable_titles(monkeypatch, tmp_path):
    from c3_dense.analysis.figures import channel_figure
    kept = _drawn(monkeypatch)
    torch.manual_seed(0)
    block_in, block_out = torch.randn(16, 8, 8), torch.randn(16, 8, 8).relu()
    out = channel_figure(block_in, block_out, str(tmp_path / "c.png"), k=4,
                         image=np.zeros((32, 32, 3), np.uint8))
    fig, = kept
    bars = [ax for ax in fig.axes if ax.get_ylabel().endswith(" response")]
    assert sorted(ax.get_ylabel() for ax in bars) == ["input response", "output response"]
    for name, x in (("input", block_in), ("output", block_out)):
        low, high = out[name]["colour_range"]
        maps = x[out[name]["channels"]]
        assert low == pytest.approx(float(maps.min())) and high == pytest.approx(float(maps.max()))
    maps = [ax for ax in fig.axes if ax.get_title().startswith("ch ")]
    assert len(maps) == 8 and min(ax.title.get_fontsize() for ax in maps) >= 10
    assert {im.get_clim() for ax in maps[:4] for im in ax.images} == {out["input"]["colour_range"]}


def test_log_readers(tmp_path):
    from c3_dense.analysis.figures import read_detectron2_metrics, read_mmengine_scalars
    d2 = tmp_path / "d2"
    d2.mkdir()
    rows = [{"iteration": 19, "total_loss": 1.5}, {"iteration": 39, "total_loss": 0.5},
            {"iteration": 40, "bbox/AP": 12.0, "bbox/AP50": 30.0, "bbox/APl": float("nan")},
            {"iteration": 40, "bbox/AP": 12.0, "bbox/AP50": 30.0}]  # written twice at the end
    (d2 / "metrics.json").write_text("\n".join(json.dumps(r) for r in rows))
    series = read_detectron2_metrics(str(d2))
    assert series["loss"] == [(20, 1.5), (40, 0.5)] and series["AP"] == [(40, 12.0)]
    mm = tmp_path / "mm" / "20260101_000000" / "vis_data"
    mm.mkdir(parents=True)
    (mm / "scalars.json").write_text(json.dumps({"loss": 0.3, "iter": 20, "step": 20}) + "\n" +
                                     json.dumps({"mIoU": 55.0, "aAcc": 90.0, "step": 20}) + "\n")
    series = read_mmengine_scalars(str(tmp_path / "mm"))
    assert series["loss"] == [(20, 0.3)] and series["mIoU"] == [(20, 55.0)]
    with pytest.raises(FileNotFoundError):
        read_mmengine_scalars(str(tmp_path))


def test_detectron2_log_of_a_resumed_run_and_of_a_run_trained_again(tmp_path):
    # detectron2 appends to metrics.json: the curves must be those of the run trained last.
    from c3_dense.analysis.figures import read_detectron2_metrics
    first = [{"iteration": 19, "total_loss": 2.0}, {"iteration": 39, "total_loss": 1.0},
             {"iteration": 39, "bbox/AP": 5.0, "bbox/AP50": 9.0},
             {"iteration": 59, "total_loss": 0.9}]                 # crashed after iteration 59
    resumed = [{"iteration": 59, "total_loss": 0.8}, {"iteration": 79, "total_loss": 0.7},
               {"iteration": 79, "bbox/AP": 7.0, "bbox/AP50": 11.0}]  # resumed from 39
    resumed[0]["iteration"] = 49
    again = [{"iteration": 19, "total_loss": 3.0}, {"iteration": 39, "total_loss": 2.5},
             {"iteration": 39, "bbox/AP": 1.0, "bbox/AP50": 2.0}]   # trained over it
    path = tmp_path / "metrics.json"
    path.write_text("\n".join(json.dumps(r) for r in first + resumed))
    series = read_detectron2_metrics(str(path))
    assert series["loss"] == [(20, 2.0), (40, 1.0), (50, 0.8), (80, 0.7)]
    assert series["AP"] == [(39, 5.0), (79, 7.0)]
    path.write_text("\n".join(json.dumps(r) for r in first + resumed + again))
    series = read_detectron2_metrics(str(path))
    assert series["loss"] == [(20, 3.0), (40, 2.5)] and series["AP50"] == [(39, 2.0)]


def test_report_refuses_missing_pictures_and_escapes(tmp_path):
    from c3_dense.cli.demo_report import Report
    page = Report("a <b> page")
    page.table(["model", "AP"], [["<plain>", "1.0"]])
    page.picture("pictures/x.png", "x")
    with pytest.raises(FileNotFoundError, match="pictures/x.png"):
        page.write(str(tmp_path / "r.html"))
    (tmp_path / "pictures").mkdir()
    (tmp_path / "pictures" / "x.png").write_bytes(b"")
    text = open(page.write(str(tmp_path / "r.html"))).read()
    assert "&lt;plain&gt;" in text and "<plain>" not in text and 'src="pictures/x.png"' in text


def test_find_images_errors(tmp_path):
    from c3_dense.data.images import find_images, unique_stems
    from c3_dense.errors import UserInputError
    from PIL import Image
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    (tmp_path / "notes.jpg").write_text("not an image")
    with pytest.raises(UserInputError, match="notes.jpg is not a readable image"):
        find_images([str(tmp_path)])
    with pytest.raises(UserInputError, match="not found"):
        find_images([str(tmp_path / "missing.jpg")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserInputError, match="holds no images"):
        find_images([str(tmp_path / "empty")])
    assert find_images([str(tmp_path / "a.png")]) == [str(tmp_path / "a.png")]
    assert unique_stems(["a/x.jpg", "b/x.png", "y.jpg"]) == ["x", "x-1", "y"]


def test_checkpoint_iteration_names():
    from c3_dense.analysis.pictures import checkpoint_iteration
    assert checkpoint_iteration("out/model_0000199.pth", 0) == 200  # detectron2, 0-based
    assert checkpoint_iteration("work/iter_300.pth", 0) == 300      # mmengine
    assert checkpoint_iteration("model_final.pth", 7) == 7  # no such file: the fallback


def test_checkpoint_iteration_of_a_final_checkpoint_is_the_one_it_records(tmp_path):
    # model_final.pth sits at the end of the diversity curve, not at its list position.
    from c3_dense.analysis.pictures import checkpoint_iteration
    torch.save({"model": {}, "iteration": 599}, tmp_path / "model_final.pth")  # detectron2
    torch.save({"state_dict": {}, "meta": {"iter": 600}}, tmp_path / "best.pth")  # mmengine
    torch.save({"model": {}}, tmp_path / "converted.pth")
    assert checkpoint_iteration(str(tmp_path / "model_final.pth"), 1) == 600
    assert checkpoint_iteration(str(tmp_path / "best.pth"), 1) == 600
    assert checkpoint_iteration(str(tmp_path / "converted.pth"), 1) == 1


# --- the demo, once, and the tools on what it leaves -----------------------------------------

@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    pytest.importorskip("detectron2", reason="needs detectron2 (make test installs it)")
    pytest.importorskip("mmseg", reason="needs mmsegmentation (make test installs it)")
    root = tmp_path_factory.mktemp("demo")
    # C3_PROGRESS_SECONDS=0: a progress line whenever a count moves (checked by order below)
    env = dict(os.environ, DETECTRON2_DATASETS=str(root / "data"), PYTHONWARNINGS="ignore",
               C3_PROGRESS_SECONDS="0")
    result = subprocess.run([sys.executable, "tools/demo.py", "--quick", "--out-root", str(root)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return root, env, result.stdout


def test_demo_says_how_far_every_step_is(demo):
    import re
    _, _, out = demo
    from c3_dense.data.demo import DEMO_SPLITS
    for split, size in DEMO_SPLITS.items():  # the data, made afresh here
        done = [int(k) for k in re.findall(rf"demo data, {split} images: (\d+)/{size}, eta", out)]
        assert done == list(range(1, size + 1)), (split, done[:5])
    for label in ("det plain", "det C3", "seg plain", "seg C3"):  # training: counts that rise
        done = [int(k) for k in re.findall(rf"{label} (\d+)/\d+", out)]
        assert len(done) >= 2 and done == sorted(done), (label, done)
    for label in ("det untrained", "det C3", "seg C3 eval"):  # evaluation: images counted
        done = [int(k) for k in re.findall(rf"{label} evaluating (\d+)/\d+ images, ~\d+s left",
                                           out)]
        restarts = sum(b < a for a, b in zip(done, done[1:]))  # one per evaluation after the first
        assert len(done) >= 3 and restarts <= 1, (label, done)
    for task in ("det", "seg"):  # the pictures: five named steps, the long one counted
        steps = [int(k) for k in re.findall(rf"pictures {task}: step (\d)/5", out)]
        assert steps == [1, 2, 3, 4, 5], steps
        models = re.findall(rf"pictures {task}: diversity on 16 images, C3 checkpoints: "
                            r"(\d+)/(\d+), eta", out)
        assert [int(k) for k, _ in models] == list(range(1, int(models[0][1]) + 1)), models
        assert out.index(f"pictures {task}: step 4/5") < out.index(
            f"pictures {task}: diversity on") < out.index(f"pictures {task}: step 5/5")


def tool(demo, *args):
    root, env, _ = demo
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


def test_demo_quick_runs_every_stage_and_writes_the_report(demo):
    root, _, out = demo
    for row in ("untrained", "plain", "C3"):
        assert f"\n  {row}" in out
    assert "AP50" in out and "mIoU" in out
    assert "\r" not in out  # not a terminal: plain progress lines, no redrawn line
    assert (root / "output" / "demo" / "det_c3" / "final_metrics.json").exists()
    assert (root / "work_dirs" / "demo" / "seg_c3" / "eval_metrics.json").exists()
    assert (root / "data" / "c3_demo" / "COMPLETE").exists()
    report = root / "output" / "demo" / "report.html"
    assert f"Report: {report}" in out
    text = report.read_text()
    import re
    pictures = re.findall(r'<img src="([^"]+)"', text)
    names = {os.path.basename(p) for p in pictures}
    for task in ("det", "seg"):  # compare, curves, channels, diversity bars and curve
        assert {f"compare_{task}.png", f"curves_{task}.png", f"channels_{task}.png",
                f"{task}_diversity_bars.png", f"{task}_diversity_curve.png"} <= names
    for rel in pictures:
        assert not os.path.isabs(rel)
        assert_not_blank(report.parent / rel)
    for table in ("AP50", "mIoU", "IoU C3"):
        assert table in text


def _chromium():
    return next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)


@pytest.mark.skipif(_chromium() is None, reason="needs Chromium (Debian: apt install chromium)")
def test_report_opens_in_headless_chromium(demo, tmp_path):
    """A real browser loads the page offline: every picture decodes (naturalWidth > 0) and the
    rendered page is not blank."""
    root, _, _ = demo
    report = root / "output" / "demo" / "report.html"
    probe = report.with_name("report_probe.html")  # the page plus a script that reports back
    probe.write_text(report.read_text().replace(
        "</body>", "<script>window.addEventListener('load',()=>{const i=[...document.images];"
        "document.title='images '+i.length+' loaded '+i.filter(x=>x.complete&&x.naturalWidth>0)"
        ".length;});</script></body>"))
    browser = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000"]
    dom = subprocess.run(browser + ["--dump-dom", probe.as_uri()], capture_output=True,
                         text=True, timeout=180)
    import re
    title = re.search(r"<title>images (\d+) loaded (\d+)</title>", dom.stdout)
    assert title, dom.stdout[-2000:] + dom.stderr[-2000:]
    assert int(title.group(1)) >= 10 and title.group(1) == title.group(2)
    # The curves the page shows: both runs' colours in the loss panel (left half), the plain
    # run's too, though the quick demo's loss is one point per run and C3 is drawn after it.
    for task in ("det", "seg"):
        curves = read_png(report.parent / "pictures" / f"curves_{task}.png").astype(int)
        left = curves[:, : curves.shape[1] // 2]
        for rgb in ((31, 119, 180), (255, 127, 14)):  # matplotlib's C0 (plain), C1 (C3)
            assert (np.abs(left - rgb).sum(-1) < 60).sum() > 10, (task, rgb)
    shot = tmp_path / "page.png"
    subprocess.run(browser + ["--window-size=1200,3000", f"--screenshot={shot}", report.as_uri()],
                   capture_output=True, timeout=180)
    assert_not_blank(shot)


def _demo_weights(root):
    return {"det_plain": str(root / "output" / "demo" / "det_plain" / "model_final.pth"),
            "det_c3": str(root / "output" / "demo" / "det_c3" / "model_final.pth"),
            "seg_plain": str(root / "work_dirs" / "demo" / "seg_plain" / "iter_4.pth"),
            "seg_c3": str(root / "work_dirs" / "demo" / "seg_c3" / "iter_4.pth")}


def _test_images(root, count):
    folder = root / "data" / "c3_demo" / "VOC"
    ids = (folder / "ImageSets" / "Main" / "test.txt").read_text().split()[:count]
    return [str(folder / "JPEGImages" / f"{i}.jpg") for i in ids]


def _seg_data(root):
    voc = root / "data" / "c3_demo" / "VOC"
    return [f"{s}_dataloader.dataset.data_root={voc}" for s in ("train", "val", "test")]


def test_infer_det_and_seg_draw_every_image_at_its_size(demo, tmp_path):
    root = demo[0]
    w = _demo_weights(root)
    images = _test_images(root, 2)
    result = tool(demo, "tools/infer.py", "det", os.path.join(DET_DEMO, "faster_rcnn_R_18_FPN_c3.yaml"),
                  w["det_c3"], *images, "--out", str(tmp_path / "det"), "--score-thresh", "0")
    assert result.returncode == 0, result.stderr[-2000:]
    preds = json.loads((tmp_path / "det" / "predictions.json").read_text())
    assert [r["image"] for r in preds["images"]] == images
    for record in preds["images"]:
        drawn = read_png(tmp_path / "det" / record["drawn"])
        assert drawn.shape == (record["height"], record["width"], 3) == (128, 128, 3)
        for d in record["detections"]:
            assert set(d) == {"box_xyxy", "score", "class", "class_name"}
            assert d["class_name"] in ("zero", "one", "two", "three")
        if record["detections"]:  # something was drawn over the image
            assert np.abs(drawn.astype(int) - read_png(record["image"]).astype(int)).max() > 30
    folder = tmp_path / "images"  # a folder in: its images, sorted
    folder.mkdir()
    for path in _test_images(root, 3):
        shutil.copy(path, folder)
    result = tool(demo, "tools/infer.py", "seg", os.path.join(SEG_DEMO, "deeplabv2_r18-d8_demo_c3.py"),
                  w["seg_c3"], str(folder), "--out", str(tmp_path / "seg"),
                  "--cfg-options", *_seg_data(root))
    assert result.returncode == 0, result.stderr[-2000:]
    preds = json.loads((tmp_path / "seg" / "predictions.json").read_text())
    assert [os.path.basename(r["image"]) for r in preds["images"]] == sorted(os.listdir(folder))
    record = preds["images"][0]
    from PIL import Image
    labels = np.asarray(Image.open(tmp_path / "seg" / record["labels"]))
    assert labels.shape == (128, 128) and labels.max() < 5
    assert read_png(tmp_path / "seg" / record["drawn"]).shape == (128, 128, 3)
    assert sum(c["pixel_share"] for c in record["classes"]) == pytest.approx(1, abs=1e-3)


def _write_video(path, images, repeat=2):
    import cv2
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 5, (128, 128))
    for image in images * repeat:
        writer.write(cv2.imread(image))
    writer.release()
    return len(images) * repeat


def _frames(path):
    import cv2
    capture, count = cv2.VideoCapture(str(path)), 0
    while capture.read()[0]:
        count += 1
    return count


def test_infer_videos_threshold_opacity(demo, tmp_path):
    root = demo[0]
    w = _demo_weights(root)
    video = tmp_path / "clip.mp4"
    count = _write_video(video, _test_images(root, 3))
    # det: every frame drawn, with the same detections in the JSON as in the drawing.
    result = tool(demo, "tools/infer.py", "det", os.path.join(DET_DEMO, "faster_rcnn_R_18_FPN_c3.yaml"),
                  w["det_c3"], "--video", str(video), "--out", str(tmp_path / "det"),
                  "--score-thresh", "0.01")
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"frame {count}/{count}" in result.stdout
    preds = json.loads((tmp_path / "det" / "predictions.json").read_text())
    clip, = preds["videos"]
    assert clip["drawn"] == "clip.webm"
    assert _frames(tmp_path / "det" / clip["drawn"]) == len(clip["frames"]) == count
    assert "not supported" not in result.stderr  # OpenCV's WebM tag line is not the user's
    if _chromium() is not None:  # the drawn video plays in a browser as it is
        page = tmp_path / "det" / "play.html"
        page.write_text(
            '<html><head><title>waiting</title></head><body><video id="v" src="clip.webm" '
            "muted autoplay></video><script>const v=document.getElementById('v');"
            "v.addEventListener('loadeddata',()=>{document.title='plays '+v.videoWidth+'x'+"
            "v.videoHeight;});v.addEventListener('error',()=>{document.title='error '+"
            "(v.error&&v.error.code);});</script></body></html>")
        dom = subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                              "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
                              "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
                             capture_output=True, text=True, timeout=180)
        assert "<title>plays 128x128</title>" in dom.stdout, dom.stdout[-1000:]
    scores = [d["score"] for f in clip["frames"] for d in f["detections"]]
    assert scores and min(scores) >= 0.01  # under the configs' 0.05: the model's own threshold
    # seg: frames drawn at two opacities differ; at opacity 0 the frame is the image itself.
    drawn = {}
    for opacity in ("0", "0.9"):
        out = tmp_path / f"seg{opacity}"
        result = tool(demo, "tools/infer.py", "seg", os.path.join(SEG_DEMO, "deeplabv2_r18-d8_demo_c3.py"),
                      w["seg_c3"], "--video", str(video), "--out", str(out), "--opacity", opacity,
                      "--cfg-options", *_seg_data(root))
        assert result.returncode == 0, result.stderr[-2000:]
        import cv2
        ok, frame = cv2.VideoCapture(str(out / "clip.webm")).read()
        assert ok and len(json.loads((out / "predictions.json").read_text())["videos"][0]["frames"]) == count
        drawn[opacity] = frame.astype(int)
    import cv2
    original = cv2.VideoCapture(str(video)).read()[1].astype(int)
    assert np.abs(drawn["0"] - original).mean() < 3 < np.abs(drawn["0.9"] - original).mean()


def test_infer_refuses_bad_input_in_one_line(demo, tmp_path):
    root = demo[0]
    w = _demo_weights(root)
    det_c3 = os.path.join(DET_DEMO, "faster_rcnn_R_18_FPN_c3.yaml")
    image = _test_images(root, 1)[0]
    (tmp_path / "notes.jpg").write_text("text")
    cases = [
        (["det", det_c3, w["det_c3"], str(tmp_path / "nope.jpg")], "not found"),
        (["det", det_c3, w["det_c3"], str(tmp_path / "notes.jpg")], "not a readable image"),
        (["det", det_c3, w["det_plain"], image], "lack"),  # plain weights, C3 config: C3 missing
        (["seg", os.path.join(SEG_DEMO, "deeplabv2_r18-d8_demo.py"), w["seg_c3"], image],
         "another model"),
        (["det", det_c3, str(tmp_path / "none.pth"), image], "not found"),
        (["det", det_c3, w["det_c3"], image, "--device", "cuda:0"] if not torch.cuda.is_available()
         else ["det", det_c3, w["det_c3"], image, "--device", "tpu"], "--device"),
        (["det", det_c3, w["det_c3"], "--video", str(tmp_path / "notes.jpg")], "not a video"),
        (["det", det_c3, w["det_c3"], image, "--video", str(tmp_path / "notes.jpg")], "not both"),
    ]
    for args, message in cases:
        result = tool(demo, "tools/infer.py", *args, "--out", str(tmp_path / "o"))
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2, (args, result.stderr[-1500:])
        assert lines[-1].startswith("error:") and message in lines[-1], (args, lines[-1])


def test_visualize_compare_channels_diversity_curves(demo, tmp_path):
    root = demo[0]
    w = _demo_weights(root)
    det, det_c3 = (os.path.join(DET_DEMO, f) for f in ("faster_rcnn_R_18_FPN.yaml",
                                                        "faster_rcnn_R_18_FPN_c3.yaml"))
    seg, seg_c3 = (os.path.join(SEG_DEMO, f) for f in ("deeplabv2_r18-d8_demo.py",
                                                        "deeplabv2_r18-d8_demo_c3.py"))
    out = str(tmp_path)
    result = tool(demo, "tools/visualize.py", "compare", "det", "--model", "plain", det, w["det_plain"],
                  "--model", "C3", det_c3, w["det_c3"], "--count", "2", "--out", out)
    assert result.returncode == 0, result.stderr[-2000:]
    h, wd, _ = read_png(tmp_path / "compare_det.png").shape
    assert 1.2 < wd / h < 1.8  # 3 columns (ground truth | plain | C3) x 2 rows
    assert_not_blank(tmp_path / "compare_det.png")

    result = tool(demo, "tools/visualize.py", "channels", "seg", seg_c3, w["seg_c3"],
                  _test_images(root, 1)[0], "--block", "layer3", "--k", "4", "--out", out)
    assert result.returncode == 0, result.stderr[-2000:]
    info = json.loads((tmp_path / "channels_seg.json").read_text())
    assert info["block"] == "backbone.layer3.c3" and len(info["input"]["channels"]) == 4
    assert_not_blank(tmp_path / "channels_seg.png")
    h, wd, _ = read_png(tmp_path / "channels_seg.png").shape
    assert wd > 1.5 * h  # image + 4 maps per row, two rows (input, output)
    bad = tool(demo, "tools/visualize.py", "channels", "seg", seg, w["seg_plain"],
               _test_images(root, 1)[0], "--out", out)
    assert bad.returncode == 2 and "has no C3 block" in bad.stderr

    c3_run = root / "work_dirs" / "demo" / "seg_c3"
    args = ["diversity", "seg", "--plain", seg, w["seg_plain"], "--c3", seg_c3,
            str(c3_run / "iter_2.pth"), str(c3_run / "iter_4.pth"), "--count", "3", "--out", out]
    elsewhere = tool(demo, "tools/visualize.py", *args, "--cfg-options",
                     f"test_dataloader.dataset.data_root={tmp_path / 'nowhere'}")
    assert elsewhere.returncode == 2 and "nowhere does not exist" in elsewhere.stderr
    result = tool(demo, "tools/visualize.py", *args, "--cfg-options", *_seg_data(root))
    assert result.returncode == 0, result.stderr[-2000:]
    numbers = json.loads((tmp_path / "diversity_seg.json").read_text())
    assert set(numbers["c3"]) == {"2", "4"} and numbers["images"] == 3
    stages = set(numbers["c3"]["4"])
    assert stages == {"backbone.layer2", "backbone.layer3", "backbone.layer4"} == set(numbers["plain"])
    for v in numbers["c3"]["4"].values():
        assert 0 < v["input"] <= 1 and 0 < v["output"] <= 1
    assert_not_blank(tmp_path / "diversity_bars.png")
    assert_not_blank(tmp_path / "diversity_curve.png")

    result = tool(demo, "tools/visualize.py", "curves", "--run", "plain",
                  str(root / "output" / "demo" / "det_plain"), "--run", "C3",
                  str(root / "output" / "demo" / "det_c3"), "--out", out)
    assert result.returncode == 0, result.stderr[-2000:]
    assert_not_blank(tmp_path / "curves_AP.png")
    result = tool(demo, "tools/visualize.py", "curves", "--run", "C3", str(c3_run), "--out", out)
    assert result.returncode == 0, result.stderr[-2000:]
    assert_not_blank(tmp_path / "curves_mIoU.png")
    mixed = tool(demo, "tools/visualize.py", "curves", "--run", "a",
                 str(root / "output" / "demo" / "det_plain"), "--run", "b", str(c3_run), "--out", out)
    assert mixed.returncode == 2 and "mix detectron2 and mmseg" in mixed.stderr


COUNT_READS = r'''
import sys
import c3_dense.detectron2.inference as det
import c3_dense.mmseg.inference as seg
from detectron2.data import DatasetCatalog

reads = {"det": 0, "seg": 0}
get = DatasetCatalog.get
def counting_get(name):
    reads["det"] += 1
    return get(name)
DatasetCatalog.get = counting_get
test_set = seg.test_set
def counting_test_set(cfg):
    reads["seg"] += 1
    return test_set(cfg)
seg.test_set = counting_test_set

det_config, det_weights, seg_config, seg_weights, *seg_options = sys.argv[1:]
p = det.load_detector(det_config, det_weights)
images = p.test_images()
for path in images[:2] + images[:2]:
    p.class_names, p.draw_truth(path, det.read_rgb(path))
from mmengine.config import DictAction
import argparse
options = argparse.ArgumentParser()
options.add_argument("--o", nargs="+", action=DictAction)
s = seg.load_segmentor(seg_config, seg_weights, options.parse_args(["--o", *seg_options]).o)
images = s.test_images()
for path in images[:2] + images[:2]:
    s.truth(path)
s.test_images()
print(reads["det"], reads["seg"], len(images))
'''


def test_predictors_read_their_test_set_once(demo):
    # COCO val's JSON or a large seg test set is read (and checked) once per predictor, not
    # once per picture or per question.
    root = demo[0]
    w = _demo_weights(root)
    result = tool(demo, "-c", COUNT_READS, os.path.join(DET_DEMO, "faster_rcnn_R_18_FPN_c3.yaml"),
                  w["det_c3"], os.path.join(SEG_DEMO, "deeplabv2_r18-d8_demo_c3.py"), w["seg_c3"],
                  *_seg_data(root))
    assert result.returncode == 0, result.stderr[-3000:]
    det_reads, seg_reads, count = result.stdout.split()[-3:]
    assert (det_reads, seg_reads) == ("1", "1") and int(count) > 0
