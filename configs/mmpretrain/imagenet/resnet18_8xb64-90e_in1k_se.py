_base_ = './resnet18_8xb64-90e_in1k.py'
# SE (r = 16) in every block, on the residual branch before the addition.
model = dict(backbone=dict(type='ResNetSE'))
