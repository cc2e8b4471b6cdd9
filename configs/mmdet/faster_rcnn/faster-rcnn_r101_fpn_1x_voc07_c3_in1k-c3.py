_base_ = './faster-rcnn_r101_fpn_1x_voc07_c3.py'
# The paper's protocol: fine-tune from a ResNet-101 pretrained *with* C3 on ImageNet (its C3
# weights load too).
#   python tools/train_cls.py configs/mmpretrain/imagenet/resnet101_8xb64-90e_in1k_c3.py
#   python tools/convert_weights.py work_dirs/resnet101_8xb64-90e_in1k_c3/epoch_90.pth \
#       weights/c3_resnet101_in1k_mmdet.pth --to mmdet
# mmpretrain's weights see RGB images normalised by ImageNet's mean and std, as mmdet's configs
# feed them (the converted file records this; other settings are refused).
model = dict(backbone=dict(
    init_cfg=dict(type='Pretrained', checkpoint='weights/c3_resnet101_in1k_mmdet.pth')))
