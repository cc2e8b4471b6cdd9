_base_ = './deeplabv2_r101-d8_4xb4-20k_voc12aug-512x512_c3.py'
# The paper's protocol: the backbone pretrained *with* C3 on ImageNet (its C3 weights load too).
#   python tools/train_cls.py configs/mmpretrain/imagenet/resnetv1c101_8xb64-90e_in1k_c3.py
#   python tools/convert_weights.py work_dirs/resnetv1c101_8xb64-90e_in1k_c3/epoch_90.pth \
#       weights/c3_resnetv1c101_in1k.pth --to mmseg
model = dict(pretrained='weights/c3_resnetv1c101_in1k.pth')
