_base_ = './faster-rcnn_r50_fpn_1x_voc0712_c3.py'
model = dict(backbone=dict(
    depth=101, init_cfg=dict(type='Pretrained', checkpoint='weights/resnet101-63fe2227.pth')))
