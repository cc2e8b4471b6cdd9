# MMDetection's own Faster R-CNN R-50-FPN 1x on COCO 2017 (train -> val), with the settings all
# three variants (plain / _se / _c3) share, so that they differ by the block only.
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['c3_dense.mmdet'], allow_failed_imports=False)
# ImageNet weights are local files (no downloads): torchvision's ResNet-50, the file torch
# hub saves (~/.cache/torch/hub/checkpoints/resnet50-0676ba61.pth), copied to weights/.
model = dict(backbone=dict(
    init_cfg=dict(type='Pretrained', checkpoint='weights/resnet50-0676ba61.pth')))
# Gradient clipping (all variants alike): C3's encoder/decoder is an un-normalised MLP that
# can blow up at full learning rate; 35 is the usual OpenMMLab safety bound.
optim_wrapper = dict(clip_grad=dict(max_norm=35, norm_type=2))
# Every epoch's randomness (augmentations, the RPN and RoI samplers) from (seed, epoch, rank):
# a killed run resumed with --resume ends where an uninterrupted one would
# (c3_dense.openmmlab.seeding); workers restart each epoch to take their seeds.
custom_hooks = [dict(type='EpochSeedHook')]
train_dataloader = dict(persistent_workers=False,
                        worker_init_fn=dict(type='torch_worker_seeds'))
