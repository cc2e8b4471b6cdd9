_base_ = './deeplabv2_r18-d8_demo.py'
# Windows for a 128x128 input: half the side of the map each block sees (32, 16, 16).
model = dict(backbone=dict(type='C3ResNetV1c', c3_stages=(1, 2, 3), c3_windows=(16, 8, 8)))
work_dir = 'work_dirs/demo/seg_c3'
