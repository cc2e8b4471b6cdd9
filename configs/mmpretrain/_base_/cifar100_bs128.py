# CIFAR-100 as the authors train it: random 32×32 crops of the 4-pixel-padded image and
# horizontal flips; batch 128; top-1 and top-5. data_root holds cifar-100-python/ (the
# unpacked official archive); nothing is downloaded.
custom_imports = dict(imports=['c3_dense.mmpretrain'], allow_failed_imports=False)
dataset_type = 'LocalCIFAR100'
data_preprocessor = dict(
    num_classes=100,
    mean=[129.304, 124.070, 112.434],
    std=[68.170, 65.392, 70.418],
    to_rgb=False)  # the pickles are RGB already
train_pipeline = [
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='PackInputs')]
# Workers started anew each epoch and seeded by PyTorch from the main process, which the
# runtime's EpochSeedHook seeds per epoch: a resumed run draws the same crops and flips.
train_dataloader = dict(
    batch_size=128,
    num_workers=2,
    persistent_workers=False,
    worker_init_fn=dict(type='torch_worker_seeds'),
    dataset=dict(type=dataset_type, data_root='data/cifar100', split='train',
                 pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(
    batch_size=128,
    num_workers=2,
    dataset=dict(type=dataset_type, data_root='data/cifar100', split='test',
                 pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False))
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
