_base_ = './deeplabv2_r50-d8_4xb2-40k_cityscapes-512x1024_se.py'
model = dict(pretrained='weights/resnet101_v1c.pth', backbone=dict(depth=101))
