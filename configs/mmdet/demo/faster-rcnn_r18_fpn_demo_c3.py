_base_ = './faster-rcnn_r18_fpn_demo.py'
# Windows for a 128x128 input: half the side of the map each block sees (32, 16, 8).
model = dict(backbone=dict(type='C3ResNet', c3_stages=(1, 2, 3), c3_windows=(16, 8, 4)))
work_dir = 'work_dirs/demo/mmdet_c3'
