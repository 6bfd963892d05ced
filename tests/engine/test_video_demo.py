"""tools/demo.py on a video: every frame comes out, at the source's rate and
size, with the detections detect.Predictor gives on the decoded frames; a
truncated file, Ctrl-C and SIGTERM leave a playable video and whole JSON
lines up to the last frame done."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from detect.cli.detections import select
from detect.media.jsonl import read_lines
from detect.media.video import VideoSource
from detect.predictor import Predictor
from tests.engine.runs import ROOT, make_run, tool
from tests.media.videos import decoded_frames, write_video


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("video")
    make_run(str(root / "run"), ["TEST.SCORE_THRESH", "0.0"], config="toy_mask_rcnn.yml")
    video = write_video(root / "street.avi", frames=12, fps=12.0)
    return str(root / "run"), video, tool("demo")


def frames_of(path):
    with VideoSource(path) as video:
        return video.fps, video.size, len(list(video))


def assert_same_detections(line, expected):
    """A JSON line against select()ed Predictor output on the same frame."""
    assert line["classes"] == expected["class_names"]
    np.testing.assert_allclose(line["boxes"], expected["boxes"].reshape(-1, 4), atol=0.051)
    np.testing.assert_allclose(line["scores"], expected["scores"], atol=5e-5)
    masks = mask_utils.decode(line["masks"]).transpose(2, 0, 1) if line["masks"] else []
    np.testing.assert_array_equal(np.asarray(masks).reshape(expected["masks"].shape), expected["masks"])


@pytest.mark.parametrize("batch", ["1", pytest.param("4", marks=pytest.mark.slow)])
def test_a_video_comes_out_whole_with_the_predictors_detections(setup, tmp_path, batch):
    run, video, demo = setup
    out = tmp_path / "out"
    assert demo.main([video, "--output", run, "--out-dir", str(out), "--thresh", "0.2",
                      "--batch-size", batch]) == 0
    assert frames_of(out / "street_det.mp4") == (12.0, (96, 64), 12)
    lines = read_lines(str(out / "street_det.jsonl"))[0]
    assert [x["frame"] for x in lines] == list(range(12))
    assert [round(x["time"] * 12) for x in lines] == list(range(12))
    predictor = Predictor(run)
    frames = decoded_frames(video)
    total = 0
    for line, bgr in zip(lines, frames):
        expected = select(predictor(np.ascontiguousarray(bgr[..., ::-1])), 0.2)
        assert_same_detections(line, expected)
        total += len(line["scores"])
    assert total > 20  # the comparison had detections to compare
    # the picture is annotated: frames differ from the source where boxes are drawn
    drawn = decoded_frames(out / "street_det.mp4")
    assert np.abs(drawn[0].astype(int) - frames[0]).mean() > 5


@pytest.mark.slow
def test_every_nth_frame_and_the_class_filter(setup, tmp_path):
    run, video, demo = setup
    out = tmp_path / "out"
    assert demo.main([video, "--output", run, "--out-dir", str(out), "--thresh", "0",
                      "--every", "6", "--classes", "circle"]) == 0
    assert frames_of(out / "street_det.mp4")[2] == 12
    lines = read_lines(str(out / "street_det.jsonl"))[0]
    assert [x["frame"] for x in lines] == [0, 6]
    assert {c for x in lines for c in x["classes"]} == {"circle"}


@pytest.mark.slow
def test_folders_and_globs_find_videos(setup, tmp_path):
    run, video, demo = setup
    out = tmp_path / "out"
    folder = os.path.dirname(video)
    assert demo.main([folder, os.path.join(folder, "*.avi"), "--output", run, "--out-dir", str(out),
                      "--max-frames", "2"]) == 0
    assert frames_of(out / "street_det.mp4")[2] == 2  # the same file once


def test_a_truncated_video_says_so_and_keeps_the_frames_read(setup, tmp_path, capsys):
    run, video, demo = setup
    data = open(video, "rb").read()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) * 6 // 10])
    out = tmp_path / "out"
    assert demo.main([str(cut), "--output", run, "--out-dir", str(out), "--thresh", "0.5"]) == 1
    err = capsys.readouterr().err
    assert f"warning: {cut} ended at frame" in err and "of the 12 its container lists: the file is " \
        "truncated" in err
    n = frames_of(out / "cut_det.mp4")[2]
    assert 0 < n < 12 and len(read_lines(str(out / "cut_det.jsonl"))[0]) == n


@pytest.mark.slow
def test_a_video_that_cannot_be_opened_is_skipped(setup, tmp_path, capsys):
    run, video, demo = setup
    mp4 = write_video(tmp_path / "cut.mp4", fourcc="mp4v")
    data = open(mp4, "rb").read()
    open(mp4, "wb").write(data[: len(data) // 2])
    out = tmp_path / "out"
    assert demo.main([mp4, video, "--output", run, "--out-dir", str(out), "--max-frames", "3"]) == 2
    assert f"skipped {mp4}: {mp4} cannot be read as a video" in capsys.readouterr().out
    assert frames_of(out / "street_det.mp4")[2] == 3  # the next input ran, to --max-frames


@pytest.mark.slow
def test_a_camera_runs_to_max_frames(setup, tmp_path, monkeypatch):
    """A camera (here OpenCV reading the test video when asked for camera
    0): no frame count, wall-clock times, frames written until --max-frames."""
    run, video, demo = setup
    import cv2

    import detect.media.video as media_video
    real = cv2.VideoCapture
    monkeypatch.setattr(media_video.cv2, "VideoCapture",
                        lambda source: real(video if source == 0 else source))
    out = tmp_path / "out"
    assert demo.main(["--camera", "0", "--output", run, "--out-dir", str(out), "--max-frames", "5"]) == 0
    assert frames_of(out / "camera0_det.mp4")[2] == 5
    times = [x["time"] for x in read_lines(str(out / "camera0_det.jsonl"))[0]]
    assert len(times) == 5 and times[0] == 0.0 and times == sorted(times)


def test_a_camera_that_cannot_be_opened_says_so(setup, tmp_path, capsys):
    run, _, demo = setup
    assert demo.main(["--camera", "97", "--output", run, "--out-dir", str(tmp_path)]) == 2
    assert "skipped camera 97: camera 97 cannot be opened: is it connected" in capsys.readouterr().out


@pytest.mark.parametrize("sig", [signal.SIGINT, pytest.param(signal.SIGTERM, marks=pytest.mark.slow)])
def test_a_signal_mid_model_call_stops_after_that_frame(setup, tmp_path, monkeypatch, capsys, sig):
    """The signal lands while the model runs (as it does while TensorFlow
    traces the first call): that frame is finished, written, then it stops."""
    run, video, demo = setup
    calls = []
    real = Predictor.__call__

    def signalled(self, images, batch_size=1):
        calls.append(1)
        if len(calls) == 5:
            os.kill(os.getpid(), sig)
        return real(self, images, batch_size)

    monkeypatch.setattr(Predictor, "__call__", signalled)
    out = tmp_path / "out"
    assert demo.main([video, "--output", run, "--out-dir", str(out)]) == 128 + sig
    assert f"stopped by {signal.Signals(sig).name} after 5 frames" in capsys.readouterr().err
    assert frames_of(out / "street_det.mp4")[2] == 5
    assert [x["frame"] for x in read_lines(str(out / "street_det.jsonl"))[0]] == list(range(5))
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # handlers given back


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_the_process_leaves_a_playable_video(setup, tmp_path, sig):
    run, _, _ = setup
    video = write_video(tmp_path / "long.avi", frames=400, fps=25.0)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", "demo.py"), video,
                             "--output", run, "--out-dir", str(out)], cwd=str(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = str(out / "long_det.jsonl")
    deadline = time.time() + 120
    while time.time() < deadline and len(read_lines(lines)[0]) < 5:
        time.sleep(0.2)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err[-2000:]
    assert f"stopped by {signal.Signals(sig).name}" in err
    n = len(read_lines(lines)[0])
    assert 5 <= n < 400 and json.loads(open(lines).read().splitlines()[-1])["frame"] == n - 1
    assert frames_of(out / "long_det.mp4")[2] == n
