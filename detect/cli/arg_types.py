"""argparse types the commands share."""
import argparse


def at_least_one(text):
    """An integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {value}")
    return value


def unit_interval(text):
    """A number in [0, 1] (NaN is not)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:  # also False for NaN
        raise argparse.ArgumentTypeError(f"{text} is not in [0, 1] (scores are probabilities)")
    return value


def class_list(text):
    """Comma-separated class names (one option value, so image paths after
    --classes stay images)."""
    return [name for name in text.split(",") if name]
