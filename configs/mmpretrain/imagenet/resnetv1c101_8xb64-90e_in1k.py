_base_ = './resnet101_8xb64-90e_in1k.py'
# The deep-stem ResNetV1c, plain: the baseline of the paper's comparison pretrained by the same
# recipe as the _se and _c3 ones; converted with tools/convert_weights.py --to mmseg it
# initialises the DeepLabv2 configs' _in1k backbone.
model = dict(backbone=dict(type='ResNetV1c'))
