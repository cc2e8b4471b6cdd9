# MMDetection's own Faster R-CNN R-50-FPN on Pascal VOC 2007+2012 trainval -> VOC 2007 test
# (11-point mAP), with the settings all three variants (plain / _se / _c3) share.
_base_ = 'mmdet::pascal_voc/faster-rcnn_r50_fpn_1x_voc0712.py'
custom_imports = dict(imports=['c3_dense.mmdet'], allow_failed_imports=False)
# ImageNet weights are local files (no downloads): torchvision's ResNet-50, the file torch
# hub saves (~/.cache/torch/hub/checkpoints/resnet50-0676ba61.pth), copied to weights/.
model = dict(backbone=dict(
    init_cfg=dict(type='Pretrained', checkpoint='weights/resnet50-0676ba61.pth')))
# Gradient clipping (all variants alike): C3's encoder/decoder is an un-normalised MLP.
optim_wrapper = dict(clip_grad=dict(max_norm=35, norm_type=2))
# Every epoch's randomness (augmentations, the RPN and RoI samplers) from (seed, epoch, rank):
# a killed run resumed with --resume ends where an uninterrupted one would
# (c3_dense.openmmlab.seeding); workers restart each epoch to take their seeds.
custom_hooks = [dict(type='EpochSeedHook')]
train_dataloader = dict(persistent_workers=False,
                        worker_init_fn=dict(type='torch_worker_seeds'))
