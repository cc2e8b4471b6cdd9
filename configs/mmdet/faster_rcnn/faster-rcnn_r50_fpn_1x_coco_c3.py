_base_ = './faster-rcnn_r50_fpn_1x_coco.py'
# C3 in front of layer2, layer3, layer4 (docs/method.md, "Where the blocks go"); zero_init keeps
# the ImageNet features at the start.
model = dict(
    backbone=dict(type='C3ResNet', c3_stages=(1, 2, 3), c3_windows=(28, 14, 7),
                  c3_cfg=dict(form='paper', mode='resize', reduction=8, zero_init=True)))
