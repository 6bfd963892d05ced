"""COCO 2017's 80 categories by category id (instances_*2017.json), and the
class layouts of the model zoos' COCO detectors built from them."""

COCO_CATEGORIES = {
    1: "person", 2: "bicycle", 3: "car", 4: "motorcycle", 5: "airplane", 6: "bus", 7: "train",
    8: "truck", 9: "boat", 10: "traffic light", 11: "fire hydrant", 13: "stop sign",
    14: "parking meter", 15: "bench", 16: "bird", 17: "cat", 18: "dog", 19: "horse", 20: "sheep",
    21: "cow", 22: "elephant", 23: "bear", 24: "zebra", 25: "giraffe", 27: "backpack",
    28: "umbrella", 31: "handbag", 32: "tie", 33: "suitcase", 34: "frisbee", 35: "skis",
    36: "snowboard", 37: "sports ball", 38: "kite", 39: "baseball bat", 40: "baseball glove",
    41: "skateboard", 42: "surfboard", 43: "tennis racket", 44: "bottle", 46: "wine glass",
    47: "cup", 48: "fork", 49: "knife", 50: "spoon", 51: "bowl", 52: "banana", 53: "apple",
    54: "sandwich", 55: "orange", 56: "broccoli", 57: "carrot", 58: "hot dog", 59: "pizza",
    60: "donut", 61: "cake", 62: "chair", 63: "couch", 64: "potted plant", 65: "bed",
    67: "dining table", 70: "toilet", 72: "tv", 73: "laptop", 74: "mouse", 75: "remote",
    76: "keyboard", 77: "cell phone", 78: "microwave", 79: "oven", 80: "toaster", 81: "sink",
    82: "refrigerator", 84: "book", 85: "clock", 86: "vase", 87: "scissors", 88: "teddy bear",
    89: "hair drier", 90: "toothbrush",
}
UNUSED = "N/A"
# Other datasets' names of COCO classes (PASCAL VOC's, CityPersons'
# pedestrian): classes are matched by name after this mapping (fine-tuning's
# kept predictor rows, test_net's model-to-dataset classes, --eval-period's
# class check), so a COCO model keeps its "airplane" rows for VOC's
# "aeroplane".
CLASS_ALIASES = {"pedestrian": "person", "aeroplane": "airplane", "motorbike": "motorcycle",
                 "diningtable": "dining table", "pottedplant": "potted plant", "sofa": "couch",
                 "tvmonitor": "tv"}


def canonical_class(name):
    """The COCO name of a class named otherwise (CLASS_ALIASES), else name."""
    return CLASS_ALIASES.get(name, name)


def torchvision_coco_classes():
    """torchvision's 91 output slots: slot i is COCO category id i, slot 0
    the background, ids COCO does not use are "N/A" (their scores still
    take part in the softmax, so the slots are kept, not dropped)."""
    return ["__background__"] + [COCO_CATEGORIES.get(i, UNUSED) for i in range(1, 91)]


def contiguous_coco_classes():
    """detect's (and detectron2's) 80 classes in category-id order, the
    background first: what coco_2017_* datasets call class 1..80."""
    return ["__background__"] + [COCO_CATEGORIES[i] for i in sorted(COCO_CATEGORIES)]
