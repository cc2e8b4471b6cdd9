_base_ = './deeplabv2_r50-d8_4xb4-20k_voc12aug-512x512.py'
# C3 in front of layer2, layer3, layer4 (docs/method.md, "Where the blocks go"); zero_init keeps ImageNet features at start.
model = dict(
    backbone=dict(type='C3ResNetV1c', c3_stages=(1, 2, 3), c3_windows=(28, 14, 7),
                  c3_cfg=dict(form='paper', mode='resize', reduction=8, zero_init=True)))
