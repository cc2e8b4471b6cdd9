_base_ = ['mmpretrain::_base_/default_runtime.py']
# Keep the last three epochs' checkpoints and the best top-1 one.
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3,
                                     save_best='auto'))
