# ImageNet from its usual local layout: data_root/train/<class>/*.JPEG and
# data_root/val/<class>/*.JPEG (or meta/{train,val}.txt lists); 64 images per GPU.
custom_imports = dict(imports=['c3_dense.mmpretrain'], allow_failed_imports=False)
_base_ = ['mmpretrain::_base_/datasets/imagenet_bs64.py']
# Workers started anew each epoch and seeded by PyTorch from the main process, which the
# runtime's EpochSeedHook seeds per epoch: a resumed run draws the same augmentations.
train_dataloader = dict(dataset=dict(data_root='data/imagenet'), persistent_workers=False,
                        worker_init_fn=dict(type='torch_worker_seeds'))
val_dataloader = dict(dataset=dict(data_root='data/imagenet'))
test_dataloader = val_dataloader
