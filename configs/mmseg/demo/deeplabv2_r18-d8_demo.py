# The embedded demo: DeepLabv2 on ResNetV1c-18 at half width (32-channel stem and first
# stage, 256 channels out; output stride 8) from scratch, on the generated 128x128
# digits-on-photos data (tools/make_demo_data.py), on the CPU. Half width runs 2.5x faster than
# full width here, so 600 iterations fit the demo's time and the digits are learnt (AdamW:
# mIoU 67 at 600 iterations, where SGD at full width reached 30 in 300).
_base_ = ['../_base_/models/deeplabv2_r50-d8.py', 'mmseg::_base_/default_runtime.py']
crop_size = (128, 128)
model = dict(
    pretrained=None,
    data_preprocessor=dict(size=crop_size),
    backbone=dict(depth=18, stem_channels=32, base_channels=32),
    decode_head=dict(in_channels=256, num_classes=5))
dataset_type = 'C3DemoDataset'
# Where tools/make_demo_data.py writes it, as detectron2 finds it: $DETECTRON2_DATASETS/c3_demo
# (datasets/c3_demo under the working folder when the variable is not set).
data_root = '{{$DETECTRON2_DATASETS:datasets}}/c3_demo/VOC'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
test_pipeline = train_pipeline
data_prefix = dict(img_path='JPEGImages', seg_map_path='SegmentationClass')
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, data_prefix=data_prefix,
                 ann_file='ImageSets/Segmentation/train.txt', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, data_prefix=data_prefix,
                 ann_file='ImageSets/Segmentation/test.txt', pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='PerClassIoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
max_iters = 600
# Gradient clipping as in the detectron2 configs: C3's encoder/decoder is an un-normalised MLP.
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='AdamW', lr=0.002, weight_decay=0.01),
                     clip_grad=dict(max_norm=5.0, norm_type=2))
# Validation and checkpoints three times per run: the demo draws mIoU and channel diversity
# over training from them.
interval = max_iters // 3
param_scheduler = [dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=max_iters,
                        by_epoch=False)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=interval)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=interval),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
work_dir = 'work_dirs/demo/seg_plain'
