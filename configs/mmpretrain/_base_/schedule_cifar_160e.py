# The authors' CIFAR schedule: SGD momentum 0.9, lr 0.1, weight decay 1e-4, 160 epochs,
# lr × 0.1 at epochs 120 and 140 (batch 128; auto_scale_lr rescales lr for other batches).
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4))
param_scheduler = dict(type='MultiStepLR', by_epoch=True, milestones=[120, 140], gamma=0.1)
train_cfg = dict(by_epoch=True, max_epochs=160, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=128)
