_base_ = './faster-rcnn_r50_fpn_1x_voc07.py'
# SE in every Bottleneck (after conv3, before the addition), r = 16.
model = dict(backbone=dict(type='SEResNet', se_cfg=dict(reduction=16)))
