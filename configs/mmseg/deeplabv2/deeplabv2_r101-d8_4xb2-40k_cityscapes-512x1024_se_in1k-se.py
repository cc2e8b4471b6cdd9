_base_ = './deeplabv2_r101-d8_4xb2-40k_cityscapes-512x1024_se.py'
# The paper's protocol, SE: the backbone pretrained *with* SE by the same recipe as the plain
# and _c3 ones (its SE weights load too).
#   python tools/train_cls.py configs/mmpretrain/imagenet/resnetv1c101_8xb64-90e_in1k_se.py
#   python tools/convert_weights.py work_dirs/resnetv1c101_8xb64-90e_in1k_se/epoch_90.pth \
#       weights/se_resnetv1c101_in1k.pth --to mmseg
model = dict(pretrained='weights/se_resnetv1c101_in1k.pth')
