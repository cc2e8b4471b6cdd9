_base_ = './resnet20_1xb128-160e_cifar100.py'
model = dict(backbone=dict(attention='se'))  # SE in every block, r = 8, no bias (the paper's)
