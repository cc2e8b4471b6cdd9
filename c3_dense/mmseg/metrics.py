"""IoUMetric that keeps the per-class table for tools/eval.py seg."""
from mmseg.evaluation import IoUMetric
from mmseg.registry import METRICS


@METRICS.register_module()
class PerClassIoUMetric(IoUMetric):
    """mmseg's IoUMetric (same summary: aAcc, mIoU, mAcc) that also stores per-class IoU and
    accuracy (%) in ``self.per_class``."""

    def compute_metrics(self, results: list):
        metrics = super().compute_metrics(results)
        intersect, union, pred, label = (sum(r) for r in zip(*results))
        per = self.total_area_to_metrics(intersect, union, pred, label, ["mIoU"],
                                         self.nan_to_num, self.beta)
        classes = self.dataset_meta["classes"]
        self.per_class = {c: {"IoU": float(iou) * 100, "Acc": float(acc) * 100}
                          for c, iou, acc in zip(classes, per["IoU"], per["Acc"])}
        return metrics
