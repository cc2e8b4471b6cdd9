_base_ = './deeplabv2_r50-d8_4xb4-20k_voc12aug-512x512.py'
# The paper's protocol, plain: the backbone pretrained by the same recipe as the _se and _c3
# ones (not mmseg's ImageNet weights), so that the three differ by the block only.
#   python tools/train_cls.py configs/mmpretrain/imagenet/resnetv1c50_8xb64-90e_in1k.py
#   python tools/convert_weights.py work_dirs/resnetv1c50_8xb64-90e_in1k/epoch_90.pth \
#       weights/resnetv1c50_in1k.pth --to mmseg
model = dict(pretrained='weights/resnetv1c50_in1k.pth')
