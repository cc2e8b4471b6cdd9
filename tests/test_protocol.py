"""The paper's protocol: the C3 block's two published forms by name, and the network that made
the paper's CIFAR table re-stated here from its description.

The authors' CIFAR-100 ResNet-56 + C3, as their paper and code describe it: post-activation
basic blocks (conv-BN-ReLU-conv-BN, + shortcut, ReLU) with 1×1-conv + BN projection shortcuts
where the shape changes; their final C3 block in front of stages 1-3 (windows 16, 16, 8 on the
maps it sees: 16ch@32², 16ch@32², 32ch@16²), which nearest-resizes its input to the window,
encodes each channel's map with an MLP over the positions (A → A/8 → A), weights every channel
of its group (itself included) by softmax(-(v_i - v_j)²) of the encoded maps' means, decodes
the mixed maps with a second MLP, resizes the update back and returns ReLU(x + x̄).
Everything below is written from that description, not from this package's code."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from c3_dense import C3Block
from c3_dense.core import FORMS, C3OptionError
from c3_dense.models import create


class AuthorsC3(nn.Module):
    def __init__(self, window: int, reduction: int = 8):
        super().__init__()
        area = window * window
        self.window = window
        self.enc1, self.enc2 = nn.Linear(area, area // reduction), nn.Linear(area // reduction, area)
        self.dec1, self.dec2 = nn.Linear(area, area // reduction), nn.Linear(area // reduction, area)

    def forward(self, x):
        b, c, h, w = x.shape
        small = F.interpolate(x, size=(self.window, self.window), mode="nearest").flatten(2)
        z = self.enc2(F.relu(self.enc1(small)))                      # b × c × A
        groups = c // 512 if c > 512 else 1
        z = z.reshape(b, groups, c // groups, -1)
        v = z.mean(-1)
        a = torch.softmax(-(v.unsqueeze(-1) - v.unsqueeze(-2)) ** 2, dim=-1)  # self included
        m = (a @ z).reshape(b, c, -1)
        update = self.dec2(F.relu(self.dec1(m))).reshape(b, c, self.window, self.window)
        return F.relu(x + F.interpolate(update, size=(h, w), mode="nearest"))


class AuthorsBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.project = None
        if stride != 1 or cin != cout:
            self.project = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                         nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + (x if self.project is None else self.project(x)))


class AuthorsResNetC3(nn.Module):
    def __init__(self, depth: int = 56, num_classes: int = 100):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1, self.bn1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16)
        self.body, cin = nn.ModuleList(), 16
        for width, stride, window in ((16, 1, 16), (32, 2, 16), (64, 2, 8)):
            blocks = [AuthorsC3(window)]
            for j in range(n):
                blocks.append(AuthorsBlock(cin, width, stride if j == 0 else 1))
                cin = width
            self.body.append(nn.Sequential(*blocks))
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        for stage in self.body:
            x = stage(x)
        return self.fc(x.mean((2, 3)))


def _randomised(model):
    """Every parameter and BN statistic random, at a trained network's scale (activations stay
    of order one through the 56 layers, so gradients compare in relative terms)."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point():
                continue
            if name.endswith(("running_var", "bn1.weight", "bn2.weight", ".1.weight")) \
                    and t.dim() == 1:
                t.copy_(torch.rand(t.shape, generator=g, dtype=t.dtype) * 0.4 + 0.8)
            elif t.dim() > 1:  # conv and linear weights: He-scaled
                t.copy_(torch.randn(t.shape, generator=g, dtype=t.dtype)
                        * (1.0 / t[0].numel()) ** 0.5)
            else:  # biases, BN shifts and means
                t.copy_(torch.randn(t.shape, generator=g, dtype=t.dtype) * 0.1)
    return model


def _restated_and_ours(form: str):
    ours = _randomised(create("cifar_resnet56_c3", form=form).double())
    theirs = AuthorsResNetC3().double()
    mine, their_state = ours.state_dict(), theirs.state_dict()
    # The same tensors in the same order (conv1, bn1, each stage's C3 then its blocks, fc).
    assert [tuple(t.shape) for t in mine.values()] == [tuple(t.shape) for t in their_state.values()]
    theirs.load_state_dict(dict(zip(their_state, mine.values())))
    return ours, theirs


@pytest.mark.parametrize("train", [False, True])
def test_the_authors_form_is_the_authors_cifar_network_restated(train):
    ours, theirs = _restated_and_ours("authors")
    ours.train(train), theirs.train(train)
    x = torch.randn(4, 3, 32, 32, dtype=torch.float64)
    x_ours, x_theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
    logits, reference = ours(x_ours), theirs(x_theirs)
    torch.testing.assert_close(logits, reference, rtol=1e-12, atol=1e-12)
    weights = torch.randn_like(logits)
    (logits * weights).sum().backward()
    (reference * weights).sum().backward()
    torch.testing.assert_close(x_ours.grad, x_theirs.grad, rtol=1e-10, atol=1e-12)
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-9, atol=1e-11, msg=name)


def test_the_paper_form_is_another_network_on_the_same_weights():
    ours, theirs = _restated_and_ours("paper")
    x = torch.randn(4, 3, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        assert (ours.eval()(x) - theirs.eval()(x)).abs().max() > 1e-2


def test_forms_set_the_defaults_and_explicit_options_win():
    assert FORMS == {"paper": dict(include_self=False, final_relu=False),
                     "authors": dict(include_self=True, final_relu=True)}
    paper, authors = C3Block(7), C3Block(7, form="authors")
    assert (paper.include_self, paper.final_relu) == (False, False)
    assert (authors.include_self, authors.final_relu) == (True, True)
    mixed = C3Block(7, form="authors", final_relu=False)
    assert (mixed.include_self, mixed.final_relu) == (True, False)
    assert "form='authors'" in repr(authors)
    with pytest.raises(C3OptionError, match="form must be one of"):
        C3Block(7, form="author")
    # Scripting keeps the form's options: ReLU(x + x̄) is never negative.
    block = C3Block(4, form="authors", mode="native").eval()
    x = torch.randn(1, 3, 4, 4)
    scripted = torch.jit.script(block)
    torch.testing.assert_close(scripted(x), block(x))
    assert (scripted(x) >= 0).all() and (C3Block(4, mode="native").eval()(x) < 0).any()


# ------------------------------------------------------------------ plain, SE and C3, one chain
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import real_layouts  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = os.path.join(ROOT, "tools")
CONFIGS = os.path.join(ROOT, "configs")
SUFFIX = {"plain": "", "se": "_se", "c3": "_c3"}
D2_CONFIG = {"plain": "faster_rcnn_R_50_FPN_in1k.yaml", "se": "faster_rcnn_R_50_FPN_se_in1k-se.yaml",
             "c3": "faster_rcnn_R_50_FPN_c3_in1k-c3.yaml"}
SEG_CONFIG = {v: f"deeplabv2_r50-d8_4xb4-20k_voc12aug-512x512{s}.py" for v, s in
              (("plain", "_in1k"), ("se", "_se_in1k-se"), ("c3", "_c3_in1k-c3"))}


def _tool(args, cwd):
    result = subprocess.run([sys.executable, *map(str, args)], cwd=str(cwd), capture_output=True,
                            text=True, timeout=900, env=dict(os.environ, PYTHONWARNINGS="ignore"))
    assert result.returncode == 0, " ".join(map(str, args)) + "\n" + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def user(tmp_path_factory):
    """An ImageNet-layout tree of 3 classes (train_cls.py's input) and one photograph (PNG:
    the frameworks decode it to the same pixels)."""
    from PIL import Image
    from skimage import data as photos

    work = tmp_path_factory.mktemp("protocol")
    real_layouts.write_imagenet(str(work / "data"), per_class=1)
    Image.fromarray(photos.astronaut()).resize((96, 64)).save(work / "photo.png")
    (work / "weights").mkdir()
    real_layouts.write_coco(str(work / "datasets"), {"train": 2, "val": 1})
    real_layouts.write_voc_segmentation(str(work / "data"))
    return work


def _pretrain(user, config):
    """tools/train_cls.py on the tree; the classifier (eval, all four stages out) and its file."""
    from c3_dense.mmpretrain.engine import build_model, load_config
    from c3_dense.weights import load_torch_file

    name = os.path.splitext(os.path.basename(config))[0]
    _tool([os.path.join(TOOLS, "train_cls.py"), config, "--cfg-options"]
          + [f"{k}={v}" for k, v in real_layouts.imagenet_options().items()], user)
    checkpoint = user / "work_dirs" / name / "epoch_1.pth"
    options = dict(real_layouts.imagenet_options(), **{"model.backbone.out_indices": (0, 1, 2, 3)})
    classifier = build_model(load_config(config, options)).eval()
    classifier.load_state_dict(load_torch_file(str(checkpoint))["state_dict"])
    return checkpoint, classifier


def _classifier_features(classifier, photo):
    """The classifier's stage features on ``photo`` through mmpretrain's own loading and data
    preprocessor (channel order, mean, std)."""
    from mmengine.dataset import Compose
    from mmengine.registry import DefaultScope

    with DefaultScope.overwrite_default_scope("mmpretrain"):
        packed = Compose([dict(type="LoadImageFromFile"), dict(type="PackInputs")])(
            dict(img_path=str(photo)))
    data = classifier.data_preprocessor({"inputs": [packed["inputs"]],
                                         "data_samples": [packed["data_samples"]]}, False)
    with torch.no_grad():
        return classifier.backbone(data["inputs"])


def _pretrained_and_converted(user, classifier_config, to, config, weights):
    """train_cls.py on the tree with an ImageNet recipe, then convert_weights.py of its
    checkpoint to ``weights`` for ``to``, checked against the fine-tuning ``config``; the
    classifier."""
    checkpoint, classifier = _pretrain(user, os.path.join(CONFIGS, "mmpretrain", "imagenet",
                                                          classifier_config))
    converted = _tool([os.path.join(TOOLS, "convert_weights.py"), checkpoint, weights, "--to",
                       to, "--config", config], user)
    assert "recorded with it: trained on RGB input" in converted.stdout
    return classifier


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["plain", "se", "c3"])
def test_detectron2_fine_tune_configs_see_the_classifier_s_features(user, variant):
    pytest.importorskip("detectron2")
    import c3_dense.detectron2  # noqa: F401
    from detectron2.data import detection_utils

    from c3_dense.detectron2.engine import C3Checkpointer, Trainer, setup_cfg
    from c3_dense.errors import UserInputError

    config = os.path.join(CONFIGS, "detectron2", "COCO-1x", D2_CONFIG[variant])
    weights = user / setup_cfg(config).MODEL.WEIGHTS  # where the config reads them
    classifier = _pretrained_and_converted(
        user, f"resnet50_8xb64-90e_in1k{SUFFIX[variant]}.py", "detectron2", config, weights)
    cfg = setup_cfg(config, ["MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", str(weights)])
    model = Trainer.build_model(cfg)
    C3Checkpointer(model, cfg=cfg).resume_or_load(cfg.MODEL.WEIGHTS, resume=False)  # as training
    image = detection_utils.read_image(str(user / "photo.png"), format=cfg.INPUT.FORMAT)
    tensor = torch.as_tensor(image.transpose(2, 0, 1).copy())
    with torch.no_grad():
        features = model.eval().backbone.bottom_up(
            model.preprocess_image([{"image": tensor}]).tensor)
    expected = _classifier_features(classifier, user / "photo.png")
    for i, name in enumerate(("res2", "res3", "res4", "res5")):
        torch.testing.assert_close(features[name], expected[i], rtol=1e-4, atol=1e-4, msg=name)
    if variant != "c3":  # (the C3 config trains in tests/test_workflows.py's chain)
        # The shipped config trains from them, two iterations on COCO's layout (weights/ and
        # datasets/ in the working folder, as the config names them).
        out = user / "output" / variant
        _tool([os.path.join(TOOLS, "train_det.py"), "--config-file", config, "SOLVER.MAX_ITER",
               "2", "SOLVER.IMS_PER_BATCH", "2", "SOLVER.WARMUP_ITERS", "1", "SOLVER.STEPS",
               "(100,)", "INPUT.MIN_SIZE_TRAIN", "(64,)", "INPUT.MAX_SIZE_TRAIN", "128",
               "DATALOADER.NUM_WORKERS", "0", "MODEL.DEVICE", "cpu", "DATASETS.TEST", "()",
               "OUTPUT_DIR", out], user)
        final = torch.load(out / "model_final.pth", weights_only=True)["model"]
        stem = model.state_dict()["backbone.bottom_up.stem.conv1.weight"]
        assert torch.equal(final["backbone.bottom_up.stem.conv1.weight"], stem)  # FREEZE_AT 2
    # The same weights under the config for detectron2's own MSRA weights (BGR, Caffe means,
    # the stride in the 1×1 convolution) are refused, with the keys to set.
    plain_config = os.path.join(CONFIGS, "detectron2", "COCO-1x",
                                D2_CONFIG[variant].replace("_in1k-c3", "").replace(
                                    "_in1k-se", "").replace("_in1k", ""))
    other = setup_cfg(plain_config, ["MODEL.DEVICE", "cpu"])
    with pytest.raises(UserInputError, match=r"were trained otherwise than this config runs "
                                             r"them: input RGB \(the config: BGR\).*set "
                                             r"INPUT.FORMAT RGB MODEL.PIXEL_MEAN "
                                             r"\[123.675,116.28,103.53\]"):
        C3Checkpointer(Trainer.build_model(other), cfg=other).resume_or_load(str(weights),
                                                                             resume=False)


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["plain", "se", "c3"])
def test_mmseg_fine_tune_configs_see_the_classifier_s_features(user, variant):
    pytest.importorskip("mmseg")
    from mmengine.dataset import Compose
    from mmengine.registry import DefaultScope

    from c3_dense.mmseg.engine import build_model, load_config
    from c3_dense.openmmlab.engine import check_pretrained_fits

    config = os.path.join(CONFIGS, "mmseg", "deeplabv2", SEG_CONFIG[variant])
    weights = user / load_config(config).model.pretrained  # where the config reads them
    classifier = _pretrained_and_converted(
        user, f"resnetv1c50_8xb64-90e_in1k{SUFFIX[variant]}.py", "mmseg", config, weights)
    cfg = load_config(config, {"model.pretrained": str(weights)})
    segmentor = build_model(cfg, config)
    check_pretrained_fits(segmentor, cfg)  # what train_seg.py checks before the Runner starts
    segmentor.init_weights()
    with DefaultScope.overwrite_default_scope("mmseg"):
        packed = Compose([dict(type="LoadImageFromFile"), dict(type="PackSegInputs")])(
            dict(img_path=str(user / "photo.png"), reduce_zero_label=False, seg_fields=[]))
    data = segmentor.data_preprocessor({"inputs": [packed["inputs"]],
                                        "data_samples": [packed["data_samples"]]}, False)
    with torch.no_grad():
        features = segmentor.eval().backbone(data["inputs"])
    expected = _classifier_features(classifier, user / "photo.png")
    # Stages 1-2 (C3 and SE included): DeepLab dilates stages 3-4 instead of striding.
    for i in (0, 1):
        torch.testing.assert_close(features[i], expected[i], rtol=1e-4, atol=1e-4)
    if variant != "c3":  # (the C3 config trains in tests/test_workflows.py's chain)
        # The shipped config trains from them, two iterations on VOC 2012 aug's layout.
        work_dir = user / "work_dirs" / f"seg_{variant}"
        _tool([os.path.join(TOOLS, "train_seg.py"), config, "--work-dir", work_dir,
               "--cfg-options", "train_cfg.max_iters=2", "train_dataloader.batch_size=1",
               "train_dataloader.num_workers=0", "train_dataloader.persistent_workers=False",
               "val_dataloader=None", "val_cfg=None", "val_evaluator=None",
               "default_hooks.checkpoint.interval=2"], user)
        trained = torch.load(work_dir / "iter_2.pth", weights_only=False)["state_dict"]
        start = torch.load(weights, weights_only=True)["state_dict"]["layer3.5.conv2.weight"]
        moved = trained["backbone.layer3.5.conv2.weight"] - start
        assert moved.norm() < 0.25 * start.norm()  # two SGD steps from the converted weights


def test_a_fine_tune_config_of_another_c3_form_is_refused_naming_the_form():
    pytest.importorskip("mmseg")
    from c3_dense.errors import UserInputError
    from c3_dense.mmseg.engine import load_config
    from c3_dense.openmmlab.engine import check_pretraining

    record = {"rgb": True, "mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375],
              "c3": {"include_self": True, "final_relu": True, "mode": "resize"}}
    config = os.path.join(CONFIGS, "mmseg", "deeplabv2", SEG_CONFIG["c3"])
    with pytest.raises(UserInputError, match=r"C3 senders j = i among the senders \(the "
                                             r"config: j ≠ i\).*model.backbone.c3_cfg.form=authors"):
        check_pretraining(load_config(config), record, "w.pth")
    check_pretraining(load_config(config, {"model.backbone.c3_cfg.form": "authors"}), record, "w")
