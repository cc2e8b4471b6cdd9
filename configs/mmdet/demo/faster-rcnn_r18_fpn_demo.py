# The embedded demo for MMDetection: Faster R-CNN R-18-FPN from scratch (BN, nothing frozen) on
# the generated 128x128 digits-on-photos data (tools/make_demo_data.py: its COCO JSON), on the
# CPU; the detectron2 demo's network and schedule (configs/detectron2/Demo) in mmdet's terms.
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['c3_dense.mmdet'], allow_failed_imports=False)
classes = ('zero', 'one', 'two', 'three')
model = dict(
    data_preprocessor=dict(pad_size_divisor=32),
    backbone=dict(depth=18, frozen_stages=-1, norm_eval=False, init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=128),
    rpn_head=dict(in_channels=128, feat_channels=128,
                  anchor_generator=dict(scales=[4])),  # anchors of 16..256 pixels
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=128),
        bbox_head=dict(in_channels=128, fc_out_channels=256, num_classes=len(classes))),
    train_cfg=dict(rpn_proposal=dict(max_per_img=256), rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(rpn=dict(max_per_img=200), rcnn=dict(max_per_img=20)))
# Where tools/make_demo_data.py writes it, as detectron2 finds it: $DETECTRON2_DATASETS/c3_demo
# (datasets/c3_demo under the working folder when the variable is not set).
data_root = '{{$DETECTRON2_DATASETS:datasets}}/c3_demo/'
metainfo = dict(classes=classes)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True), batch_sampler=None,
    dataset=dict(type='CocoDataset', data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/instances_train.json',
                 data_prefix=dict(img='VOC/JPEGImages/'), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(type='CocoDataset', data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/instances_test.json',
                 data_prefix=dict(img='VOC/JPEGImages/'), pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='CocoMetric', ann_file=data_root + 'annotations/instances_test.json',
                     metric='bbox', format_only=False)
test_evaluator = val_evaluator
max_iters = 300
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters // 3)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', begin=0, end=max_iters, by_epoch=False, milestones=[225, 280],
         gamma=0.1)]
# Gradient clipping as in the detectron2 configs: C3's encoder/decoder is an un-normalised MLP.
optim_wrapper = dict(optimizer=dict(lr=0.02), clip_grad=dict(max_norm=35, norm_type=2))
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters // 3))
log_processor = dict(by_epoch=False)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
# The RPN and RoI samplers draw from torch's generator: seeded per iteration, a killed run
# resumed with --resume samples as an uninterrupted one (c3_dense.openmmlab.seeding).
custom_hooks = [dict(type='IterSeedHook')]
work_dir = 'work_dirs/demo/mmdet_plain'
