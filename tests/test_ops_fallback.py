"""The stand-in for mmcv's compiled ops (c3_dense/openmmlab/ops_fallback.py): nms,
batched_nms and roi_align with mmcv's signatures and return values, checked against
references written here from the ops' definitions; the stand-in package that mmseg, mmpretrain
and MMDetection import from when mmcv is mmcv-lite."""
import numpy as np
import pytest
import torch

from c3_dense.openmmlab import ops_fallback
from c3_dense.openmmlab.ops_fallback import RoIAlign, batched_nms, nms, roi_align


def greedy_nms(boxes, scores, iou_threshold, offset=0):
    """The definition: highest score first, drop every box whose IoU with a kept one exceeds
    the threshold (widths x2 - x1 + offset)."""
    kept = []
    for i in sorted(range(len(scores)), key=lambda i: -float(scores[i])):
        a = boxes[i]
        for j in kept:
            b = boxes[j]
            w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]) + offset)
            h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]) + offset)
            area = lambda r: (r[2] - r[0] + offset) * (r[3] - r[1] + offset)  # noqa: E731
            if w * h / (area(a) + area(b) - w * h) > iou_threshold:
                break
        else:
            kept.append(i)
    return kept


def random_boxes(n, seed):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g, dtype=torch.float64) * 40
    wh = torch.rand(n, 2, generator=g, dtype=torch.float64) * 20 + 1
    return torch.cat([xy, xy + wh], 1), torch.rand(n, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("iou,offset", [(0.3, 0), (0.5, 0), (0.7, 1)])
def test_nms_is_greedy_suppression_with_mmcv_s_outputs(iou, offset):
    boxes, scores = random_boxes(60, seed=int(iou * 10) + offset)
    dets, keep = nms(boxes, scores, iou, offset=offset)
    assert keep.tolist() == greedy_nms(boxes.tolist(), scores.tolist(), iou, offset)
    assert torch.equal(dets, torch.cat([boxes[keep], scores[keep, None]], 1))
    high = scores > 0.5  # score_threshold drops the low ones first; max_num caps
    dets2, keep2 = nms(boxes, scores, iou, offset=offset, score_threshold=0.5, max_num=3)
    expected = [int(torch.nonzero(high)[k]) for k in greedy_nms(
        boxes[high].tolist(), scores[high].tolist(), iou, offset)][:3]
    assert keep2.tolist() == expected
    dets_np, keep_np = nms(boxes.numpy(), scores.numpy(), iou, offset=offset)  # numpy in, out
    assert isinstance(dets_np, np.ndarray) and keep_np.tolist() == keep.tolist()
    with pytest.raises(ValueError, match="offset must be 0 or 1"):
        nms(boxes, scores, iou, offset=2)


def test_batched_nms_suppresses_within_classes_only():
    boxes, scores = random_boxes(80, seed=3)
    classes = torch.arange(80) % 3
    dets, keep = batched_nms(boxes, scores, classes, dict(type="nms", iou_threshold=0.4))
    expected = []
    for c in range(3):
        members = torch.nonzero(classes == c).flatten()
        expected += [int(members[k]) for k in greedy_nms(boxes[members].tolist(),
                                                         scores[members].tolist(), 0.4)]
    assert sorted(keep.tolist()) == sorted(expected)
    assert keep.tolist() == sorted(expected, key=lambda i: -float(scores[i]))  # highest first
    assert torch.equal(dets, torch.cat([boxes[keep], scores[keep, None]], 1))
    agnostic, keep_all = batched_nms(boxes, scores, classes, dict(iou_threshold=0.4),
                                     class_agnostic=True)
    assert keep_all.tolist() == greedy_nms(boxes.tolist(), scores.tolist(), 0.4)
    assert batched_nms(boxes, scores, classes, dict(iou_threshold=0.4, class_agnostic=True,
                                                    split_thr=10))[1].tolist() == keep_all.tolist()
    raw, order = batched_nms(boxes, scores, classes, None)  # None: every box, sorted
    assert order.tolist() == scores.argsort(descending=True).tolist() and len(raw) == 80
    empty = batched_nms(boxes[:0], scores[:0], classes[:0], dict(iou_threshold=0.5))
    assert empty[0].shape == (0, 5) and empty[1].numel() == 0
    with pytest.raises(ModuleNotFoundError, match="soft_nms needs mmcv's compiled ops"):
        batched_nms(boxes, scores, classes, dict(type="soft_nms", iou_threshold=0.5))


@pytest.mark.parametrize("aligned", [False, True])
def test_roi_align_samples_bins_bilinearly_with_the_aligned_half_pixel(aligned):
    # f(y, x) = x + 10 y is linear, so a bilinear sample is the sampled point's value: each
    # bin's average is f at the bin's centre. Box (2, 4)-(10, 12) at spatial_scale 0.5 is
    # (1, 2)-(5, 6) on the map; aligned moves it by -0.5 pixel (pixel centres).
    h, w = 12, 12
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64),
                            torch.arange(w, dtype=torch.float64), indexing="ij")
    feature = (xs + 10 * ys)[None, None]
    rois = torch.tensor([[0, 2.0, 4.0, 10.0, 12.0]], dtype=torch.float64)
    shift = 0.5 if aligned else 0.0
    x0, y0 = 1.0 - shift, 2.0 - shift  # on the map: 2×2 bins of 2×2 pixels
    expected = torch.tensor([[x0 + 1 + 2 * i + 10 * (y0 + 1 + 2 * j) for i in range(2)]
                             for j in range(2)], dtype=torch.float64)
    for ratio in (0, 2):  # adaptive (0) or 2×2 samples per bin
        out = roi_align(feature, rois, (2, 2), spatial_scale=0.5, sampling_ratio=ratio,
                        aligned=aligned)
        torch.testing.assert_close(out[0, 0], expected)
    layer = RoIAlign(2, spatial_scale=0.5, sampling_ratio=2, aligned=aligned)
    torch.testing.assert_close(layer(feature, rois)[0, 0], expected)
    from torchvision.ops import roi_align as torchvision_roi_align  # the same operator
    torch.testing.assert_close(layer(feature, rois), torchvision_roi_align(
        feature, rois, (2, 2), 0.5, 2, aligned))
    with pytest.raises(ModuleNotFoundError, match="pool_mode='max'"):
        RoIAlign(2, pool_mode="max")


def test_the_stand_in_package_serves_mmdet_s_imports_and_fails_only_when_used():
    pytest.importorskip("mmcv", reason="needs mmcv (make test installs mmcv-lite)")
    if ops_fallback.compiled_ops_available():
        pytest.skip("full mmcv is installed: its own ops are used and the stand-in is not")
    ops_fallback.install()
    from mmcv.ops import DeformConv2d, batched_nms as from_package  # noqa: F401
    from mmcv.ops.carafe import CARAFEPack
    from mmcv.ops.nms import batched_nms as from_submodule
    from mmcv.ops.roi_align import RoIAlign as layer
    assert from_package is from_submodule is batched_nms and layer is RoIAlign
    import mmcv
    assert getattr(mmcv.ops, "RoIAlign") is RoIAlign  # as mmdet's RoI extractors look it up

    class Subclassed(CARAFEPack):  # mmdet subclasses some at import time
        pass

    for build in (lambda: DeformConv2d(3, 3, 3), lambda: Subclassed(3, 2)):
        with pytest.raises(ModuleNotFoundError, match="needs mmcv's compiled ops"):
            build()
    with pytest.raises(ModuleNotFoundError, match="nms_match needs mmcv's compiled ops"):
        mmcv.ops.nms_match(np.zeros((1, 5)), 0.5)
    with pytest.raises(ModuleNotFoundError, match="CrissCrossAttention needs"):
        from mmcv.ops import CrissCrossAttention  # noqa: F401  (mmseg's optional heads)
    with pytest.raises(ModuleNotFoundError):
        import mmcv.ops.sparse_conv  # noqa: F401  (no files behind the stand-in)

