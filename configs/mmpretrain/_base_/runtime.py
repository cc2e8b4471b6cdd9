_base_ = ['mmpretrain::_base_/default_runtime.py']
# Keep the last three epochs' checkpoints and the best top-1 one.
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3,
                                     save_best='auto'))
# Reproducible: two runs with the same seed agree, and a killed run resumed with --resume
# ends where the uninterrupted one does (c3_dense/openmmlab/seeding.py: each epoch's
# randomness from (seed, epoch, rank); the data bases start the training workers anew each
# epoch). Another seed: --cfg-options randomness.seed=N.
randomness = dict(seed=0)
custom_hooks = [dict(type='EpochSeedHook')]
