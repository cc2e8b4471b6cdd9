_base_ = './resnet50_8xb64-90e_in1k.py'
# The deep-stem ResNetV1c with SE in every block (converts to mmseg's SEResNetV1c).
model = dict(backbone=dict(type='SEResNetV1c'))
