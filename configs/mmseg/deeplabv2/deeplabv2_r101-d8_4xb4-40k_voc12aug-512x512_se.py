_base_ = './deeplabv2_r50-d8_4xb4-40k_voc12aug-512x512_se.py'
model = dict(pretrained='weights/resnet101_v1c.pth', backbone=dict(depth=101))
