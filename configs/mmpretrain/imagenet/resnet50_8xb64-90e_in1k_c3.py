_base_ = './resnet50_8xb64-90e_in1k.py'
# C3 in front of layer2-4 (windows 28/14/7), trained from scratch with the backbone.
model = dict(backbone=dict(type='C3ResNet'))
