_base_ = './resnet101_8xb64-90e_in1k.py'
# The deep-stem ResNetV1c with C3: a checkpoint from this config, converted with
# tools/convert_weights.py --to mmseg, initialises the DeepLabv2 configs' backbone.
model = dict(backbone=dict(type='C3ResNetV1c'))
