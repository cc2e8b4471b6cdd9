_base_ = './deeplabv2_r50-d8_4xb4-40k_voc12aug-512x512.py'
# SE in every Bottleneck (after conv3, before the addition), r = 16.
model = dict(backbone=dict(type='SEResNetV1c', se_cfg=dict(reduction=16)))
