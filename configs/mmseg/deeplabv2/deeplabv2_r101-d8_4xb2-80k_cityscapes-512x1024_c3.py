_base_ = './deeplabv2_r50-d8_4xb2-80k_cityscapes-512x1024_c3.py'
model = dict(pretrained='weights/resnet101_v1c.pth', backbone=dict(depth=101))
