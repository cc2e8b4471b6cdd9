_base_ = './faster-rcnn_r50_fpn_1x_voc07_se.py'
# The paper's protocol: fine-tune from a ResNet-50 pretrained *with* SE on ImageNet (its SE
# weights load too).
#   python tools/train_cls.py configs/mmpretrain/imagenet/resnet50_8xb64-90e_in1k_se.py
#   python tools/convert_weights.py work_dirs/resnet50_8xb64-90e_in1k_se/epoch_90.pth \
#       weights/se_resnet50_in1k_mmdet.pth --to mmdet
# mmpretrain's weights see RGB images normalised by ImageNet's mean and std, as mmdet's configs
# feed them (the converted file records this; other settings are refused).
model = dict(backbone=dict(
    init_cfg=dict(type='Pretrained', checkpoint='weights/se_resnet50_in1k_mmdet.pth')))
