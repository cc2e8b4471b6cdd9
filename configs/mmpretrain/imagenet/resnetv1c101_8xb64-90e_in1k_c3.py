_base_ = './resnet101_8xb64-90e_in1k.py'
# The deep-stem ResNetV1c with C3: its backbone keys are those of mmseg's C3ResNetV1c, so a
# checkpoint from this config initialises the DeepLabv2 configs' backbone.
model = dict(backbone=dict(type='C3ResNetV1c'))
