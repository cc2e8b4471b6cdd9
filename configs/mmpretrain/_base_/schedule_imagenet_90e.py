# The authors' ImageNet schedule: batch 512 (8 GPUs × 64), SGD momentum 0.9, lr 0.1 × 512/256
# (linear scaling), weight decay 1e-4, 90 epochs, lr × 0.1 at epochs 30 and 60.
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.2, momentum=0.9, weight_decay=1e-4))
param_scheduler = dict(type='MultiStepLR', by_epoch=True, milestones=[30, 60], gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=90, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=512)
