# ImageNet from its usual local layout: data_root/train/<class>/*.JPEG and
# data_root/val/<class>/*.JPEG (or meta/{train,val}.txt lists); 64 images per GPU.
custom_imports = dict(imports=['c3_dense.mmpretrain'], allow_failed_imports=False)
_base_ = ['mmpretrain::_base_/datasets/imagenet_bs64.py']
train_dataloader = dict(dataset=dict(data_root='data/imagenet'))
val_dataloader = dict(dataset=dict(data_root='data/imagenet'))
test_dataloader = val_dataloader
