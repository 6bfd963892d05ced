"""Arrays by our variable paths (detect/weights/) put onto a built model.

    report = load_into(model.variables, read_state_dict(path), arch.mapping(), path)
    load_backbone_weights(backbone.body, "resnet50-0676ba61.pth")

detect/weights/ reads files and maps the sources' names and layouts onto
our variable paths without knowing any model; this module is the step above
it that checks those paths and shapes against a model's variables and
assigns them, all or nothing.
"""
from detect.modeling.resnet import BLOCKS
from detect.weights.read import read_state_dict
from detect.weights.torch_zip import WeightsFileError
from detect.weights.zoo import (IGNORED, caffe2_resnet_mapping, canonical_torchvision_names, map_state,
                                short_list, torchvision_resnet_mapping)


def load_into(variables, state, mapping, path, canonical=canonical_torchvision_names,
              ignore=IGNORED):
    """Sets ``variables`` (a list of tf.Variables, by ``.path``) from the
    source arrays ``state`` (``{name: np.ndarray}``) through ``mapping``
    (``{our variable path: (source name, layout change)}``, weights/zoo.py).
    Returns map_state's LoadReport.

    Nothing is assigned unless every check passes: the map_state checks,
    every variable of the model in the map and the map's in the model, and
    every shape fitting after the layout change. Each failure is a
    WeightsFileError naming the file and the tensors.
    """
    by_path = {v.path: v for v in variables}
    missing_vars = [p for p in by_path if p not in mapping]
    unknown = [p for p in mapping if p not in by_path]
    if missing_vars or unknown:
        raise WeightsFileError(
            f"{path}: the model and the architecture map differ (a config that does not rebuild "
            f"this architecture?): model variables without a source: {short_list(missing_vars) or 'none'}; "
            f"mapped names the model lacks: {short_list(unknown) or 'none'}")
    values, sources, report = map_state(state, mapping, path, canonical, ignore)
    for ours, value in values.items():
        want = tuple(by_path[ours].shape)
        if value.shape != want:
            name, shape = sources[ours]
            raise WeightsFileError(f"{path}: {name} has shape {list(shape)}, which gives "
                                   f"{list(value.shape)}; {ours} needs {list(want)} (another class "
                                   "count or architecture?)")
    for ours, value in values.items():
        by_path[ours].assign(value)
    return report


def load_backbone_weights(body, path):
    """An ImageNet ResNet into the resnet backbone's body (a keras.Model
    whose weights are named res<s>_<b>_...): torchvision's state dict
    (resnet50-*.pth; its fc classifier left out) or the MSRA Caffe2 blobs
    detectron2 trains from (R-50.pkl; fc1000 and the *_momentum blobs left
    out). Stages past the body's top are left out."""
    state = read_state_dict(path)
    top = max(k for k in range(2, 6) if any(v.path.startswith(f"res{k}_") for v in body.weights))
    if "conv1_w" in state:  # Caffe2 blob names
        depth = 101 if "res4_22_branch2a_w" in state else 50
        mapping = caffe2_resnet_mapping(BLOCKS[depth], top)
        state = {k: v for k, v in state.items() if not k.startswith("fc1000")
                 and not k.endswith("_momentum") and not (top < 5 and k.startswith("res5_"))}
    else:
        depth = 101 if any(k.startswith("layer3.22.") for k in state) else 50
        mapping = torchvision_resnet_mapping(prefix="", blocks=BLOCKS[depth], top_level=top)
        state = {k: v for k, v in state.items() if not k.startswith("fc.")
                 and not (top < 5 and k.startswith("layer4."))}
    return load_into(body.weights, state, mapping, path, canonical=lambda s: {k: k for k in s})
