"""The written list of a folder's images (tools/predict.py's images.json).

A COCO-style file without annotations:

    {"images": [{"id": 1, "file_name": "street/0001.jpg", "path": "/abs/photos/street/0001.jpg"}, ...],
     "categories": [{"id": 1, "name": "person"}, ...]}

``id`` is what the results' image_id says; ``file_name`` is the image's
path relative to the folder (or glob) it was found in, which is how an
annotation file made later names it; ``categories`` are the model's classes
(id = the model's class index, what the results' category_id says). Ids
are never reused: a rerun that finds new files appends them with new ids.
The file is written whole and renamed into place.
"""
import json
import os

from detect.utils.atomic import write_json_atomic


class ImageListError(ValueError):
    """An images.json that cannot be used, with what to do."""


class ImageList:
    """Args: path (images.json), class_names (the model's, background
    first). An existing file is read; its categories must be the model's."""

    def __init__(self, path, class_names):
        self.path = path
        self.categories = [{"id": i, "name": n} for i, n in enumerate(class_names) if i > 0]
        self.images, self._by_path = [], {}
        if os.path.exists(path):
            data = read_image_list(path)
            if data["categories"] != self.categories:
                raise ImageListError(
                    f"{path} lists the classes of another model "
                    f"({', '.join(c['name'] for c in data['categories'][:5])}, ...); use another "
                    "--out-dir, or --restart to start this one anew")
            self.images = data["images"]
            self._by_path = {im["path"]: im for im in self.images}

    def add(self, found):
        """Entries for found ([(path, file_name)]), in order: those listed
        keep their ids, the others get new ones. A file_name already taken
        by another file gets as many of its folders as make it unique."""
        entries, names = [], {im["file_name"] for im in self.images}
        next_id = max((im["id"] for im in self.images), default=0) + 1
        for path, name in found:
            key = os.path.abspath(path)
            if key not in self._by_path:
                parts = key.split(os.sep)
                for k in range(len(name.split("/")) + 1, len(parts)):
                    if name not in names:
                        break
                    name = "/".join(parts[-k:])  # x.jpg of folders A, then B: x.jpg, B/x.jpg
                names.add(name)
                self._by_path[key] = {"id": next_id, "file_name": name, "path": key}
                self.images.append(self._by_path[key])
                next_id += 1
            entries.append(self._by_path[key])
        return entries

    def save(self):
        write_json_atomic(self.path, {"images": self.images, "categories": self.categories})


def read_image_list(path):
    """The dict of an images.json, checked; ImageListError naming the file
    otherwise."""
    try:
        with open(path) as f:
            data = json.load(f)
    except ValueError as e:
        raise ImageListError(f"{path} is not valid JSON ({e}); it is written whole by "
                             "tools/predict.py, so this one was edited or is another file") from None
    ok = (isinstance(data, dict) and isinstance(data.get("images"), list)
          and isinstance(data.get("categories"), list)
          and all(isinstance(im, dict) and isinstance(im.get("id"), int)
                  and isinstance(im.get("file_name"), str) for im in data["images"])
          and all(isinstance(c, dict) and isinstance(c.get("id"), int)
                  and isinstance(c.get("name"), str) for c in data["categories"]))
    if not ok:
        raise ImageListError(f"{path} is not an image list: it needs images [{{id, file_name}}] "
                             "and categories [{id, name}] (tools/predict.py writes one)")
    return data
