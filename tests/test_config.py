"""Strict configuration merging."""
import pytest

from detect.config import cfg_to_yaml, get_cfg, merge_from_file, merge_from_list


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
        merge_from_file(get_cfg(), path)
