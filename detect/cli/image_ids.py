"""tools/reval.py --image-list: results of tools/predict.py (ids of its
images.json, the model's class indices) put in a dataset's ids, once the
folder's annotations exist."""
import os

from detect.datasets import BadInputError
from detect.media.image_list import read_image_list


def match_images(image_list, records, path):
    """{list image id: dataset image_id}, matching each listed file_name
    (its path relative to the folder predict.py read) to the one record
    whose file path ends with it; listed images the dataset lacks are left
    out. Raises BadInputError when a name fits several records or none
    fits."""
    by_base = {}
    for r in records:
        by_base.setdefault(os.path.basename(r["file_name"]), []).append(r)
    mapping, taken = {}, {}
    for image in image_list["images"]:
        name = image["file_name"].replace("/", os.sep)
        fits = [r for r in by_base.get(os.path.basename(name), [])
                if os.path.normpath(r["file_name"]).endswith(os.sep + os.path.normpath(name))
                or os.path.normpath(r["file_name"]) == os.path.normpath(name)]
        if len(fits) > 1:
            raise BadInputError(f"{path}: {image['file_name']} fits {len(fits)} images of the dataset "
                                f"({fits[0]['file_name']}, {fits[1]['file_name']}, ...)")
        if fits:
            mapping[image["id"]] = fits[0]["image_id"]
            taken.setdefault(fits[0]["image_id"], []).append(image["file_name"])
    twice = [(k, v) for k, v in taken.items() if len(v) > 1]
    if twice:
        raise BadInputError(f"{path}: {' and '.join(twice[0][1])} both fit the dataset's image "
                            f"{twice[0][0]}; name the folder the annotations are for (tools/"
                            "predict.py on it alone gives names that fit)")
    if not mapping:
        raise BadInputError(f"{path}: none of its {len(image_list['images'])} file names (e.g. "
                            f"{image_list['images'][0]['file_name'] if image_list['images'] else '-'}) "
                            "is an image of the dataset")
    return mapping


def to_dataset_ids(results, path, dataset):
    """(results in the dataset's image and category ids, a note of what was
    left out). path: predict.py's images.json."""
    from detect.engine.inference import class_mapping  # TensorFlow: only when asked

    image_list = read_image_list(path)
    images = match_images(image_list, dataset.records, path)
    names = ["__background__"] * (max((c["id"] for c in image_list["categories"]), default=0) + 1)
    for c in image_list["categories"]:
        names[c["id"]] = c["name"]
    classes = class_mapping(names, dataset.class_names) or {i: i for i in range(1, len(names))}
    out, other_image, other_class = [], 0, 0
    for r in results:
        if not isinstance(r, dict) or r.get("image_id") not in images:
            other_image += 1
            continue
        if r.get("category_id") not in classes:
            other_class += 1
            continue
        cls = classes[r["category_id"]]
        r = dict(r, image_id=images[r["image_id"]],
                 category_id=dataset.category_ids[cls] if dataset.category_ids else cls)
        out.append(r)
    unmatched = len(image_list["images"]) - len(images)
    note = (f"{path}: {len(images)} of its {len(image_list['images'])} images are in "
            f"{dataset.name}" + (f" ({unmatched} not: their {other_image} detections left out)"
                                 if unmatched else "")
            + (f"; {other_class} detections of classes {dataset.name} lacks left out"
               if other_class else ""))
    return out, note
