_base_ = './resnet20_1xb128-160e_cifar100.py'
model = dict(backbone=dict(attention='c3'))  # C3 in front of stages 1-3, windows 16/16/8
