"""The model a command runs: --output (a run folder) or --saved-model (an
export), and --checkpoint; loaded as a detect.Predictor."""
from detect.predictor import Predictor


def add_model_args(p):
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--output", help="a run folder (tools/train_net.py, tools/import_weights.py)")
    source.add_argument("--saved-model", help="an export of tools/export_model.py, instead of --output")
    p.add_argument("--checkpoint", help="with --output: a checkpoint or a folder of them (e.g. "
                   "<output>/best, the best model of --eval-period); default: the latest")


def load_predictor(a):
    """The Predictor the arguments name; ValueError, FileNotFoundError or
    KeyError with what to pass instead."""
    if a.checkpoint and a.saved_model:
        raise ValueError("--checkpoint picks a checkpoint of --output; an export has its own weights")
    if a.saved_model:
        return Predictor(a.saved_model, kind="export")  # detect/predictor.py
    return Predictor(a.output, checkpoint=a.checkpoint, kind="run")
