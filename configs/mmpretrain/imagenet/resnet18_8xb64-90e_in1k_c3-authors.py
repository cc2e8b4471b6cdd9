_base_ = './resnet18_8xb64-90e_in1k_c3.py'
# The C3 block as the authors' final code has it, which made the paper's ImageNet table:
# j = i among the senders, ReLU(x + x_bar). The _c3 config is the paper's figure instead.
model = dict(backbone=dict(c3_cfg=dict(form='authors')))
