"""Strict configuration merging."""
import pytest

from detect.config import (RANGES, cfg_to_yaml, diff_cfg, get_cfg, merge_from_file,
                           merge_from_list, validate_cfg)


def test_defaults_are_fresh_copies():
    a, b = get_cfg(), get_cfg()
    a.TRAIN.SCALES.append(800)
    assert b.TRAIN.SCALES == [600]


def test_yaml_overrides_and_rejections(tmp_path):
    good = tmp_path / "good.yml"
    good.write_text("MODEL:\n  BACKBONE: resnet50\n  NUM_CLASSES: 4\nTRAIN:\n  LEARNING_RATE: 1\n"
                    "  SCALES: [480, 600]\n")
    cfg = merge_from_file(get_cfg(), str(good))
    assert cfg.MODEL.BACKBONE == "resnet50" and cfg.MODEL.NUM_CLASSES == 4
    assert cfg.TRAIN.LEARNING_RATE == 1.0 and isinstance(cfg.TRAIN.LEARNING_RATE, float)
    assert cfg.TRAIN.SCALES == [480, 600]
    bad = tmp_path / "bad.yml"
    bad.write_text("TRAIN:\n  LEARNING_RAT: 0.1\n")
    with pytest.raises(KeyError, match=r"bad.yml: unknown config key TRAIN.LEARNING_RAT; did you mean"):
        merge_from_file(get_cfg(), str(bad))
    bad.write_text("TRAIN:\n  MAX_ITERS: lots\n")
    with pytest.raises(ValueError, match="TRAIN.MAX_ITERS must be of type int"):
        merge_from_file(get_cfg(), str(bad))
    bad.write_text("TRAIN: 3\n")
    with pytest.raises(ValueError, match="is a section"):
        merge_from_file(get_cfg(), str(bad))
    bad.write_text("TRAIN: [\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        merge_from_file(get_cfg(), str(bad))


def test_set_pairs():
    cfg = merge_from_list(get_cfg(), ["TRAIN.SCALES", "[320, 400]", "TEST.NMS", "0.4",
                                      "MODEL.POOLER", "roi_align", "TRAIN.FLIP", "False"])
    assert cfg.TRAIN.SCALES == [320, 400] and cfg.TEST.NMS == 0.4
    assert cfg.MODEL.POOLER == "roi_align" and cfg.TRAIN.FLIP is False
    with pytest.raises(KeyError, match="unknown config key TEST.NMSS"):
        merge_from_list(get_cfg(), ["TEST.NMSS", "0.4"])
    with pytest.raises(ValueError, match="TRAIN.FLIP must be of type bool"):
        merge_from_list(get_cfg(), ["TRAIN.FLIP", "1"])
    with pytest.raises(ValueError, match="odd count"):
        merge_from_list(get_cfg(), ["TEST.NMS"])
    assert "POOLER: roi_align" in cfg_to_yaml(cfg)


def test_experiment_configs_load():
    import glob

    files = sorted(glob.glob("experiments/cfgs/*.yml"))
    assert files
    for path in files:
        cfg = validate_cfg(merge_from_file(get_cfg(), path))
        if cfg.MODEL.BACKBONE != "tiny":  # a real backbone never starts from random weights unasked
            # ImageNet, or (fine-tuning) the pretrained detector the config's header imports
            assert cfg.MODEL.WEIGHTS == "imagenet" or cfg.MODEL.WEIGHTS.startswith("output/"), path


@pytest.mark.parametrize("key, value, message", [
    ("TRAIN.SCALES", "[]", "TRAIN.SCALES must be a non-empty list of positive integers"),
    ("TRAIN.SCALES", "[600, -1]", "TRAIN.SCALES must be a non-empty list of positive integers"),
    ("TEST.SCALES", "[600.5]", "TEST.SCALES must be a non-empty list of positive integers"),
    ("TRAIN.SNAPSHOT_ITERS", "0", "TRAIN.SNAPSHOT_ITERS must be a number >= 1, got 0"),
    ("MODEL.SAMPLING_RATIO", "100000", "MODEL.SAMPLING_RATIO must be a number <= 64"),
    ("ANCHOR.SIZES", "[32, -64]", "ANCHOR.SIZES must be \\[\\] or a list of positive numbers"),
    ("TRAIN.IMS_PER_BATCH", "0", "TRAIN.IMS_PER_BATCH must be a number >= 1"),
    ("TRAIN.MAX_ITERS", "-5", "TRAIN.MAX_ITERS must be a number >= 1"),
    ("TRAIN.FG_FRACTION", "1.5", r"TRAIN.FG_FRACTION must be a fraction in \[0, 1\]"),
    ("TEST.NMS", "-0.1", r"TEST.NMS must be a fraction in \[0, 1\]"),
    ("TRAIN.LEARNING_RATE", "1.0e+999", "TRAIN.LEARNING_RATE must be a number > 0, got inf"),
    ("TRAIN.LEARNING_RATE", "0", "TRAIN.LEARNING_RATE must be a number > 0"),
    ("ANCHOR.RATIOS", "[]", "ANCHOR.RATIOS must be a non-empty list of positive numbers"),
    ("TRAIN.BBOX_STDS", "[0.1, 0.1]", "TRAIN.BBOX_STDS must be a list of 4 positive numbers"),
    ("TRAIN.STEPS", "[0]", "TRAIN.STEPS must be a list of positive integers"),
    ("MODEL.NUM_CLASSES", "1", "MODEL.NUM_CLASSES must be a number >= 2"),
])
def test_values_out_of_range_name_the_key(key, value, message, tmp_path):
    with pytest.raises(ValueError, match="--set: config key " + message):
        merge_from_list(get_cfg(), [key, value])
    section, name = key.split(".")
    path = tmp_path / "c.yml"
    path.write_text(f"{section}:\n  {name}: {value}\n")
    with pytest.raises(ValueError, match="c.yml: config key " + message):
        merge_from_file(get_cfg(), str(path))


def test_validate_cfg_checks_the_whole_config():
    assert all(isinstance(k, str) for k in RANGES)
    validate_cfg(get_cfg())  # every RANGES key exists and the defaults are in range
    cfg = get_cfg()
    cfg.TRAIN.SNAPSHOT_ITERS = 0  # as a tool's flag sets it, after merging
    with pytest.raises(ValueError, match="TRAIN.SNAPSHOT_ITERS must be a number >= 1"):
        validate_cfg(cfg)
    cfg = merge_from_list(get_cfg(), ["TRAIN.BG_THRESH_LO", "0.6"])
    with pytest.raises(ValueError, match=r"TRAIN.BG_THRESH_LO \(0.6\) must not exceed TRAIN.BG_THRESH_HI"):
        validate_cfg(cfg)
    cfg = merge_from_list(get_cfg(), ["MODEL.BACKBONE", "tiny", "MODEL.WEIGHTS", "imagenet"])
    with pytest.raises(ValueError, match="the tiny backbone has no ImageNet weights"):
        validate_cfg(cfg)


def test_config_files_that_are_not_yaml_text(tmp_path):
    with pytest.raises(ValueError, match="is a directory; give a YAML config file"):
        merge_from_file(get_cfg(), str(tmp_path))
    binary = tmp_path / "weights.yml"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ValueError, match="weights.yml is not (a YAML text file|valid YAML)"):
        merge_from_file(get_cfg(), str(binary))
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    with pytest.raises(ValueError, match="weights.yml is not (a YAML text file|valid YAML)"):
        merge_from_file(get_cfg(), str(binary))
    with pytest.raises(FileNotFoundError, match="config file .*missing.yml does not exist"):
        merge_from_file(get_cfg(), str(tmp_path / "missing.yml"))


def test_diff_cfg_names_the_keys_that_differ():
    new = merge_from_list(get_cfg(), ["ANCHOR.SCALES", "[2, 4]", "TRAIN.LEARNING_RATE", "0.01"])
    assert diff_cfg(get_cfg(), new) == [("ANCHOR.SCALES", [8, 16, 32], [2, 4]),
                                        ("TRAIN.LEARNING_RATE", 0.001, 0.01)]
    assert diff_cfg(get_cfg(), get_cfg()) == []
