_base_ = [
    '../_base_/models/deeplabv2_r50-d8.py', 'mmseg::_base_/datasets/pascal_voc12_aug.py',
    'mmseg::_base_/default_runtime.py', 'mmseg::_base_/schedules/schedule_40k.py'
]
crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(data_preprocessor=data_preprocessor, decode_head=dict(num_classes=21))
# Gradient clipping (all variants alike): C3's encoder/decoder is an un-normalised MLP that
# can blow up at full learning rate; 35 is the usual OpenMMLab safety bound.
optim_wrapper = dict(clip_grad=dict(_delete_=True, max_norm=35, norm_type=2))
