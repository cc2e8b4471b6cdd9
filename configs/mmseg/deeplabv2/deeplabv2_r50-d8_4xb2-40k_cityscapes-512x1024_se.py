_base_ = './deeplabv2_r50-d8_4xb2-40k_cityscapes-512x1024.py'
# SE in every Bottleneck (after conv3, before the addition), r = 16.
model = dict(backbone=dict(type='SEResNetV1c', se_cfg=dict(reduction=16)))
