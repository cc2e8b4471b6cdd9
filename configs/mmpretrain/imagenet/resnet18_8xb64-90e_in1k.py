_base_ = ['../_base_/models/resnet50.py', '../_base_/imagenet_bs64.py',
          '../_base_/schedule_imagenet_90e.py', '../_base_/runtime.py']
model = dict(backbone=dict(depth=18), head=dict(in_channels=512))
