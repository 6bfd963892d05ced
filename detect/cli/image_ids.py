"""tools/reval.py --image-list: results of tools/predict.py (ids of its
images.json, the model's class indices) put in a dataset's ids, once the
folder's annotations exist."""
import collections
import os

from detect.datasets import BadInputError
from detect.media.image_list import read_image_list


def _fits(name, by_base):
    """(record, the folder before name in its path) of each record whose
    file path ends with the relative path name."""
    name = os.path.normpath(name.replace("/", os.sep))
    out = []
    for r in by_base.get(os.path.basename(name), []):
        full = os.path.normpath(r["file_name"])
        if full == name or full.endswith(os.sep + name):
            out.append((r, full[:len(full) - len(name)]))
    return out


def match_images(image_list, records, path):
    """{list image id: dataset image_id}, matching each listed file_name
    (its path relative to the folder predict.py read) to the record whose
    file path ends with it. Where several end with it (x.jpg and sub/x.jpg
    of one folder both end with x.jpg), the one under the folder that the
    unambiguous names point to wins. Listed images the dataset lacks are
    left out. Raises BadInputError when a name still fits several records,
    when two names fit one record, or when none fits."""
    by_base = {}
    for r in records:
        by_base.setdefault(os.path.basename(r["file_name"]), []).append(r)
    fits = {image["id"]: _fits(image["file_name"], by_base) for image in image_list["images"]}
    roots = collections.Counter(root for f in fits.values() if len(f) == 1 for _, root in f)
    mapping, taken = {}, {}
    for image in image_list["images"]:
        candidates = fits[image["id"]]
        if len(candidates) > 1:
            best = max(roots[root] for _, root in candidates)
            candidates = [(r, root) for r, root in candidates if roots[root] == best]
        if len(candidates) > 1:
            raise BadInputError(f"{path}: {image['file_name']} fits {len(candidates)} images of the "
                                f"dataset ({candidates[0][0]['file_name']}, "
                                f"{candidates[1][0]['file_name']}, ...)")
        if candidates:
            mapping[image["id"]] = candidates[0][0]["image_id"]
            taken.setdefault(candidates[0][0]["image_id"], []).append(image["file_name"])
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
