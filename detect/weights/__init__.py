"""Weights files of other toolkits as NumPy arrays by name, without running
code from them (DESIGN.md, "Weights and where they come from").

    state = read_state_dict("model_final_f10217.pkl")   # {name: np.ndarray}

Formats, told apart by their contents, not their names:
  PyTorch zip (``torch.save``: torchvision ``.pth``, detectron2 ``.pth``
    checkpoints)                                      torch_zip.py
  ``.safetensors``                                    safetensors.py
  a pickled dict of NumPy arrays (detectron2's model-zoo ``.pkl``)  pickles.py
"""
from detect.weights.read import read_state_dict
from detect.weights.torch_zip import WeightsFileError

__all__ = ["read_state_dict", "WeightsFileError"]
