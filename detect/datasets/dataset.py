"""A named list of image records with its class names."""
import dataclasses
from typing import List, Optional, Tuple

from detect.datasets.records import SkipLog


@dataclasses.dataclass
class Dataset:
    """Records (see records.py) of one or more splits.

    Attributes:
      name: e.g. "voc_2007_trainval" or "voc_2007_trainval+voc_2012_trainval".
      class_names: index = contiguous class id; class_names[0] is
        "__background__".
      records: list of record dicts.
      skips: what was fixed or skipped while reading.
      coco_json: for COCO-format sets, the annotation file (for COCOeval);
        None where the records are the ground truth (VOC layout, joined sets,
        CityPersons' own file: see citypersons.py).
      category_ids: for COCO-format sets, contiguous id -> dataset category id
        (kept by a join of sets that share it).
    """

    name: str
    class_names: Tuple[str, ...]
    records: List[dict]
    skips: SkipLog = dataclasses.field(default_factory=SkipLog)
    coco_json: Optional[str] = None
    category_ids: Optional[dict] = None

    @property
    def num_classes(self):
        """Including the background class."""
        return len(self.class_names)

    def __len__(self):
        return len(self.records)

    def __add__(self, other):
        if tuple(self.class_names) != tuple(other.class_names):
            raise ValueError(f"cannot join {self.name} and {other.name}: different classes "
                             f"({self.class_names} vs {other.class_names})")
        skips = SkipLog(self.skips.strict)
        skips.merge(self.skips)
        skips.merge(other.skips)
        same_ids = self.category_ids == other.category_ids
        return Dataset(f"{self.name}+{other.name}", self.class_names,
                       self.records + other.records, skips,
                       category_ids=self.category_ids if same_ids else None)
