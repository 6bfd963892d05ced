"""The pieces under tools/demo.py's videos and tools/predict.py's folders:
JSON lines that a kill cannot tear, folder listings and their names, a
read-ahead that stays bounded, video sources and sinks."""
import threading
import time

import cv2
import pytest

from detect.datasets.image_check import BadImageError
from detect.media.folder import expand, read_ahead, read_image
from detect.media.jsonl import JsonLines, read_lines
from detect.media.video import VideoError, VideoSink, VideoSource
from tests.datasets.trees import write_jpeg
from tests.media.videos import toy_frame, write_video


def test_a_torn_last_line_is_cut_off_on_resume(tmp_path):
    path = str(tmp_path / "d.jsonl")
    with JsonLines(path) as log:
        log.append({"frame": 0})
        log.append({"frame": 1})
    with open(path, "a") as f:
        f.write('{"frame": 2, "bo')  # a kill in the middle of a line
    assert read_lines(path)[0] == [{"frame": 0}, {"frame": 1}]
    with JsonLines(path, resume=True) as log:
        assert log.lines == [{"frame": 0}, {"frame": 1}]
        log.append({"frame": 2})
    assert [line["frame"] for line in read_lines(path)[0]] == [0, 1, 2]
    with JsonLines(path) as log:  # not resumed: anew
        assert log.lines == []
    assert read_lines(path)[0] == []


def test_folders_and_globs_give_each_file_once_with_its_relative_name(tmp_path):
    for name in ("b.jpg", "a.png", "sub/c.jpg", "notes.txt"):
        write_jpeg(str(tmp_path / "in" / name), 8, 8) if name.endswith("g") else \
            (tmp_path / "in" / name).write_text("x")
    flat = expand([str(tmp_path / "in")])
    assert [n for _, n in flat] == ["a.png", "b.jpg"]
    deep = expand([str(tmp_path / "in"), str(tmp_path / "in" / "b.jpg")], recursive=True)
    assert [n for _, n in deep] == ["a.png", "b.jpg", "sub/c.jpg"]  # b.jpg once
    globbed = expand([str(tmp_path / "in" / "**" / "*.jpg")])
    assert [n for _, n in globbed] == ["b.jpg", "sub/c.jpg"]
    assert [n for _, n in expand([str(tmp_path / "in" / "sub" / "c.jpg")])] == ["c.jpg"]


def test_read_ahead_keeps_order_reports_errors_and_stays_bounded(tmp_path):
    paths = []
    for i in range(12):
        paths.append(str(tmp_path / f"{i}.jpg"))
        write_jpeg(paths[-1], 16, 16 + i)
    (tmp_path / "5.jpg").write_bytes(b"not a jpeg")
    started, lock = [], threading.Lock()

    def load(path):
        with lock:
            started.append(path)
        return read_image(path, 10 ** 6)

    seen = []
    for k, (path, rgb, error) in enumerate(read_ahead(paths, load, depth=3, workers=2)):
        time.sleep(0.02)  # a slow consumer: the loads must wait for it
        with lock:
            assert len(started) <= k + 3, "more loads ahead than depth"
        seen.append(path)
        if path.endswith("5.jpg"):
            assert rgb is None and isinstance(error, BadImageError)
        else:
            assert error is None and rgb.shape == (16, 16 + int(path.split("/")[-1][:-4]), 3)
    assert seen == paths


def test_video_source_and_sink_round_trip(tmp_path):
    src = write_video(tmp_path / "in.avi", frames=9, fps=15.0)
    with VideoSource(src) as video:
        assert (video.fps, video.size, video.frame_count) == (15.0, (96, 64), 9)
        frames = list(video)
        assert [i for i, _, _ in frames] == list(range(9)) and not video.ended_early
        assert [round(t * 15) for _, t, _ in frames] == list(range(9))  # time stamps
    for ext in (".mp4", ".avi"):
        with VideoSink(str(tmp_path / f"out{ext}"), 15.0, (96, 64)) as sink:
            for i in range(9):
                sink.write(toy_frame(i))
        capture = cv2.VideoCapture(str(tmp_path / f"out{ext}"))
        assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 9 and capture.get(cv2.CAP_PROP_FPS) == 15.0


def test_videos_that_cannot_be_read_or_written_say_why(tmp_path):
    with pytest.raises(VideoError, match="does not exist"):
        VideoSource(str(tmp_path / "missing.mp4"))
    mp4 = write_video(tmp_path / "cut.mp4", fourcc="mp4v")
    data = open(mp4, "rb").read()
    open(mp4, "wb").write(data[: len(data) // 2])  # the index (moov) is at the end
    with pytest.raises(VideoError, match="cannot be read as a video.*truncated"):
        VideoSource(mp4)
    avi = write_video(tmp_path / "cut.avi", frames=20)
    data = open(avi, "rb").read()
    open(avi, "wb").write(data[: len(data) * 6 // 10])
    with VideoSource(avi) as video:
        n = len(list(video))
        assert 0 < n < 20 and video.ended_early and video.frames_read == n
    with pytest.raises(VideoError, match=r"\.avi, \.m4v, \.mov, \.mp4"):
        VideoSink(str(tmp_path / "out.gif"), 10.0, (96, 64))


def test_stop_requests_wait_for_a_safe_point(tmp_path):
    import os
    import signal

    from detect.utils.stopping import StopRequests, Stopped

    before = signal.getsignal(signal.SIGINT)
    with StopRequests() as stop:
        stop.check()  # nothing asked
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.01)  # delivered, recorded, nothing raised
        with pytest.raises(Stopped, match="SIGTERM"):
            stop.check()
    with StopRequests() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        with pytest.raises(KeyboardInterrupt):  # asked twice: at once
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.1)
    assert signal.getsignal(signal.SIGINT) is before


def test_the_same_name_in_two_folders_gets_its_folder(tmp_path):
    from detect.media.image_list import ImageList

    images = ImageList(str(tmp_path / "images.json"), ["__background__", "person"])
    entries = images.add([("/w/A/x.jpg", "x.jpg"), ("/w/B/x.jpg", "x.jpg"), ("/w/A/s/y.jpg", "s/y.jpg"),
                          ("/w/B/s/y.jpg", "s/y.jpg"), ("/w/A/x.jpg", "x.jpg")])
    assert [(e["id"], e["file_name"]) for e in entries] == [
        (1, "x.jpg"), (2, "B/x.jpg"), (3, "s/y.jpg"), (4, "B/s/y.jpg"), (1, "x.jpg")]
    images.save()
    again = ImageList(str(tmp_path / "images.json"), ["__background__", "person"])
    assert again.add([("/w/C/x.jpg", "x.jpg")])[0] == {"id": 5, "file_name": "C/x.jpg",
                                                        "path": "/w/C/x.jpg"}


def test_reval_names_prefer_the_folder_the_others_point_to():
    from detect.cli.image_ids import match_images
    from detect.datasets import BadInputError

    records = [{"image_id": k, "file_name": f} for k, f in
               enumerate(["/d/photos/x.jpg", "/d/photos/sub/x.jpg", "/d/photos/a.jpg"])]
    listed = {"images": [{"id": 1, "file_name": "x.jpg"}, {"id": 2, "file_name": "sub/x.jpg"},
                         {"id": 3, "file_name": "a.jpg"}]}
    assert match_images(listed, records, "images.json") == {1: 0, 2: 1, 3: 2}
    alone = {"images": [{"id": 1, "file_name": "x.jpg"}]}  # nothing says which folder
    with pytest.raises(BadInputError, match="x.jpg fits 2 images"):
        match_images(alone, records, "images.json")


def test_video_frames_wait_only_for_their_detections():
    """--every 3: frames after a detected one go out at once; a detection
    frame waits for its batch; each line is a detected frame."""
    import types

    import numpy as np

    from detect.cli.video import FrameRunner

    calls = []

    def predictor(rgbs, batch_size):
        calls.append(len(rgbs))
        return [{"boxes": np.zeros((1, 4), np.float32), "scores": np.ones(1, np.float32),
                 "classes": np.ones(1, np.int32), "class_names": ["a"]} for _ in rgbs]

    sink = types.SimpleNamespace(frames=[], write=lambda bgr: sink.frames.append(bgr))
    log = types.SimpleNamespace(lines=[], append=lambda x: log.lines.append(x))
    a = types.SimpleNamespace(every=3, batch_size=2, thresh=0.5, classes=None)
    runner = FrameRunner(predictor, a, sink, log)
    written = []
    for i in range(8):
        runner.add(i, i / 10, np.zeros((4, 4, 3), np.uint8))
        written.append(len(sink.frames))
    runner.flush()
    # 0 waits for 3 (a batch of 2 detections), 1-2 behind it; 4, 5 go out at once; 6 waits for
    # a batch that never fills, 7 behind it: both at the end
    assert written == [0, 0, 0, 4, 5, 6, 6, 6] and len(sink.frames) == 8
    assert calls == [2, 1] and [x["frame"] for x in log.lines] == [0, 3, 6]
