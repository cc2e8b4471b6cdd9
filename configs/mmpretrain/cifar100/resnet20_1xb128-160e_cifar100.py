_base_ = ['../_base_/models/cifar_resnet.py', '../_base_/cifar100_bs128.py',
          '../_base_/schedule_cifar_160e.py', '../_base_/runtime.py']
model = dict(backbone=dict(depth=20))
