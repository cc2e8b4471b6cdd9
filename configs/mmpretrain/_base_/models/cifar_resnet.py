# The paper's CIFAR ResNet (c3_dense.models.cifar): 3 stages of 16/32/64 channels,
# post-activation basic blocks; attention None (plain), 'se' or 'c3'.
model = dict(
    type='ImageClassifier',
    backbone=dict(type='C3CifarResNet', depth=20, widen=1, attention=None),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=100, in_channels=64,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
