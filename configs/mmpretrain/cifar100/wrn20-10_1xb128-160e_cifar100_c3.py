_base_ = './wrn20-10_1xb128-160e_cifar100.py'
model = dict(backbone=dict(attention='c3'))
