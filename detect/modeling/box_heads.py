"""Box heads: pooled RoI features [K, P, P, C] -> per-RoI features [K, D].

  fc        Flatten, then 2 fully connected layers of ``dim`` with ReLU
            (fc6, fc7): the FPN 2-fc head (dim 1024), and tiny's (256).
  resnet_res5  the zoos' res5 (resnet.py) and global average pooling on
            14 x 14 RoIs of c4 (detectron2's C4 layout, RESNETS.*).
  conv_fc   4 x (3x3 conv 256, frozen BatchNorm, ReLU), flatten, 1 fc of
            ``dim`` (torchvision's v2 detectors; MODEL.BOX_HEAD_CONVS).
  vgg16_fc  VGG16's fc6 / fc7 (4096) with dropout 0.5, as py-faster-rcnn;
            TFFRCNN's VGG_imagenet.npy fills them (caffe_weights.py).
  res5      ResNet50's res5 stage and global average pooling (2048), the C4
            layout on 14 x 14 RoIs; weights and frozen BatchNorm as the
            resnet50 backbone's.
Each builder takes (weights, dim) and returns a Keras layer whose
``pooled_size`` is the RoI size it is made for (MODEL.POOLED_SIZE overrides).
"""
import keras

from detect.modeling.backbones import RESNET50_LEVELS, check_exists, freeze_batchnorm, keras_application
from detect.modeling.caffe_weights import load_vgg16_npy_fc
from detect.modeling.registry import Registry
from detect.modeling.resnet import FrozenBatchNorm

BOX_HEADS = Registry("box head")


def _fc_layers(dim, dropout):
    layers = [keras.layers.Flatten()]
    for name in ("fc6", "fc7"):
        layers.append(keras.layers.Dense(dim, activation="relu", name=name))
        if dropout:
            layers.append(keras.layers.Dropout(dropout))
    return layers


@BOX_HEADS.register("fc")
def fc(weights="", dim=1024):
    head = keras.Sequential(_fc_layers(dim, 0.0), name="fc_head")
    head.pooled_size = 7
    return head


@BOX_HEADS.register("conv_fc")
def conv_fc(weights="", dim=1024, num_convs=4, conv_dim=256, norm_eps=1e-5):
    """torchvision's FastRCNNConvFCHead as its v2 detectors use it:
    ``num_convs`` x (3x3 conv ``conv_dim`` wide without bias, frozen
    BatchNorm, ReLU), flatten, one fc of ``dim`` with ReLU (fc6)."""
    layers = []
    for i in range(1, num_convs + 1):
        layers += [keras.layers.Conv2D(conv_dim, 3, padding="same", use_bias=False, name=f"box_conv{i}"),
                   FrozenBatchNorm(norm_eps, name=f"box_conv{i}_bn"),
                   keras.layers.ReLU(name=f"box_conv{i}_relu")]
    layers += [keras.layers.Flatten(), keras.layers.Dense(dim, activation="relu", name="fc6")]
    head = keras.Sequential(layers, name="conv_fc_head")
    head.pooled_size = 7
    return head


conv_fc.cfg_options = lambda cfg: {"num_convs": cfg.MODEL.BOX_HEAD_CONVS,
                                   "norm_eps": cfg.RESNETS.NORM_EPS}


@BOX_HEADS.register("resnet_res5")
def resnet_res5(weights="", dim=2048, stride_in_1x1=False, norm_eps=1e-5):
    """The model zoos' res5 stage (resnet.py: no conv biases, frozen
    BatchNorm) and a global average pool on 14 x 14 RoIs of c4: the C4
    layout of detectron2's Res5ROIHeads. [K, 14, 14, 1024] -> [K, 2048]."""
    from detect.modeling.resnet import BLOCKS, stage

    if dim != 2048:
        raise ValueError(f"the resnet_res5 box head is 2048 wide; MODEL.BOX_HEAD_DIM {dim} does not apply")
    inputs = keras.Input((None, None, 1024))
    res5 = keras.Model(inputs, stage(inputs, 5, BLOCKS[50][3], stride_in_1x1, norm_eps), name="res5")
    head = keras.Sequential([res5, keras.layers.GlobalAveragePooling2D()], name="resnet_res5_head")
    head.pooled_size = 14
    return head


resnet_res5.cfg_options = lambda cfg: {"stride_in_1x1": cfg.RESNETS.STRIDE_IN_1X1,
                                       "norm_eps": cfg.RESNETS.NORM_EPS}


@BOX_HEADS.register("vgg16_fc")
def vgg16_fc(weights="", dim=4096, channels=512, pooled_size=7):
    head = keras.Sequential(_fc_layers(dim, 0.5), name="vgg16_head")
    if weights.endswith(".npy"):
        check_exists(weights, "vgg16")
        head.build((None, pooled_size, pooled_size, channels))
        load_vgg16_npy_fc(weights, head, channels, pooled_size)
    head.pooled_size = pooled_size
    return head


@BOX_HEADS.register("res5")
def res5(weights="", dim=2048):
    if dim != 2048:
        raise ValueError(f"the res5 box head is 2048 wide; MODEL.BOX_HEAD_DIM {dim} does not apply")
    base = keras_application(keras.applications.ResNet50, weights, "resnet50")
    freeze_batchnorm(base)
    c4 = base.get_layer(RESNET50_LEVELS[4]).output
    head = keras.Sequential([keras.Model(c4, base.output, name="res5"),
                             keras.layers.GlobalAveragePooling2D()], name="resnet50_head")
    head.pooled_size = 14
    return head
