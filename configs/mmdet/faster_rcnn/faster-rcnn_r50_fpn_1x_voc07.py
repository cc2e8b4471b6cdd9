# Faster R-CNN R-50-FPN on Pascal VOC 2007 trainval alone -> VOC 2007 test (11-point mAP), the
# paper's VOC setting; the VOC 07+12 config with its second training set left out (5,011
# images, repeated 3 times per epoch as there).
_base_ = './faster-rcnn_r50_fpn_1x_voc0712.py'
train_dataloader = dict(dataset=dict(dataset=dict(
    _delete_=True,
    type='VOCDataset',
    data_root={{_base_.data_root}},
    ann_file='VOC2007/ImageSets/Main/trainval.txt',
    data_prefix=dict(sub_data_root='VOC2007/'),
    filter_cfg=dict(filter_empty_gt=True, min_size=32, bbox_min_size=32),
    pipeline={{_base_.train_pipeline}})))
