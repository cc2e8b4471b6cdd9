_base_ = './faster-rcnn_r50_fpn_1x_voc07.py'
# The paper's protocol, plain: fine-tune from a ResNet-50 pretrained by the same recipe as the _se
# and _c3 ones (not torchvision's weights), so that the three differ by the block only.
#   python tools/train_cls.py configs/mmpretrain/imagenet/resnet50_8xb64-90e_in1k.py
#   python tools/convert_weights.py work_dirs/resnet50_8xb64-90e_in1k/epoch_90.pth \
#       weights/resnet50_in1k_mmdet.pth --to mmdet
# mmpretrain's weights see RGB images normalised by ImageNet's mean and std, as mmdet's configs
# feed them (the converted file records this; other settings are refused).
model = dict(backbone=dict(
    init_cfg=dict(type='Pretrained', checkpoint='weights/resnet50_in1k_mmdet.pth')))
