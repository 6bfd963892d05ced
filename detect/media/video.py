"""Video files and cameras in, annotated video out, through OpenCV.

Frames are BGR uint8 [H, W, 3] (OpenCV's order; flip to RGB for
detect.Predictor). A source reads anything OpenCV's VideoCapture reads
(its FFmpeg backend: MP4, AVI, MOV, MKV, WebM, ...) or a camera by index.
A sink writes at the source's frame rate and size: MP4 (mp4v) or AVI
(MJPG) by the file's extension. An MP4 is playable only once closed (its
index is written last), so the tools close it on Ctrl-C, on SIGTERM and on
a broken frame; a process killed with SIGKILL leaves an unplayable MP4
(the JSON lines beside it are whole up to the last frame).
"""
import os
import time

# FFmpeg's log (e.g. "moov atom not found") would mix with the tools'
# messages, which say the same in words (read when a capture opens)
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "8")  # AV_LOG_FATAL

import cv2  # noqa: E402

VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv",
              ".ts", ".3gp")
FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG"}
CAMERA_FPS = 30.0  # what a sink is given when a camera does not say its rate


class VideoError(ValueError):
    """A video that cannot be opened or written, with what to do."""


def is_video(path):
    return str(path).lower().endswith(VIDEO_EXTS)


class VideoSource:
    """Frames of a video file or a camera.

    Args:
      source: a file path, or an int: a camera index (cv2.VideoCapture(0)).

    Attributes: name (str), fps (float; CAMERA_FPS where the source does not
    say), size ((width, height)), frame_count (int, or None where the
    container does not say: cameras, streams), frames_read (after or during
    iteration), ended_early (True when a file ended more than a frame and
    1% before frame_count: truncated, or a frame that does not decode;
    some containers' counts are estimates, off by a frame or so).

    Iterating yields (index, seconds, bgr): the frame's index from 0, its
    time stamp in seconds (the container's, or the wall clock since the
    first frame for a camera), BGR uint8 [H, W, 3].
    Raises VideoError naming the source when it cannot be opened.
    """

    def __init__(self, source):
        self.camera = isinstance(source, int)
        self.name = f"camera {source}" if self.camera else str(source)
        if not self.camera and not os.path.isfile(source):
            raise VideoError(f"{source} does not exist" if not os.path.exists(source)
                             else f"{source} is not a file")
        if not self.camera and os.path.getsize(source) == 0:
            raise VideoError(f"{source} is an empty file")
        quiet = cv2.utils.logging.LOG_LEVEL_ERROR  # OpenCV's warnings while it tries backends
        previous = cv2.utils.logging.setLogLevel(quiet)
        try:
            self.capture = cv2.VideoCapture(source)
        finally:
            cv2.utils.logging.setLogLevel(previous)
        if not self.capture.isOpened():
            self.capture.release()
            if self.camera:
                raise VideoError(f"camera {source} cannot be opened: is it connected, and free "
                                 "(not used by another program)? Try another --camera index")
            raise VideoError(
                f"{source} cannot be read as a video: a format OpenCV's FFmpeg cannot decode, or "
                "a truncated file (an MP4 cut before its index cannot be opened at all; "
                "`ffmpeg -i in.mp4 -c copy out.mkv` salvages some)")
        fps = self.capture.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and 0 < fps < 1000 else CAMERA_FPS
        self.size = (int(self.capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                     int(self.capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        count = int(self.capture.get(cv2.CAP_PROP_FRAME_COUNT))
        self.frame_count = count if count > 0 and not self.camera else None
        self.frames_read = 0
        self.ended_early = False

    def __iter__(self):
        start = None
        while True:
            ok, frame = self.capture.read()
            if not ok or frame is None:
                break
            if self.camera:
                start = start if start is not None else time.monotonic()
                seconds = time.monotonic() - start
            else:
                seconds = self.capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            index = self.frames_read
            self.frames_read += 1
            yield index, seconds, frame
        # MKV, WebM and variable-rate files give duration x fps, an estimate:
        # a shortfall of a frame or 1% is not taken for a truncation
        slack = max(1, (self.frame_count or 0) // 100)
        self.ended_early = self.frame_count is not None and self.frames_read < self.frame_count - slack

    def close(self):
        self.capture.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class VideoSink:
    """An annotated video: write(bgr) per frame, close() to finish the file.

    Args: path (.mp4, .m4v, .mov: mp4v; .avi: MJPG), fps, size (width,
    height). Raises VideoError naming the path when OpenCV cannot write it.
    """

    def __init__(self, path, fps, size):
        ext = os.path.splitext(path)[1].lower()
        if ext not in FOURCC:
            raise VideoError(f"{path}: an annotated video is written as {', '.join(sorted(FOURCC))}; "
                             "name the file with one of them")
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.path, self.size, self.frames = path, tuple(size), 0
        self.writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*FOURCC[ext]), float(fps), self.size)
        if not self.writer.isOpened():
            raise VideoError(f"{path} cannot be written (OpenCV's VideoWriter refused it): is the "
                             "folder writable?")

    def write(self, bgr):
        """Appends a frame: BGR uint8 [H, W, 3]; one of another size is
        resized to the sink's (a camera that changed its mode)."""
        if (bgr.shape[1], bgr.shape[0]) != self.size:
            bgr = cv2.resize(bgr, self.size)  # a camera that changed its mode mid-stream
        self.writer.write(bgr)
        self.frames += 1

    def close(self):
        if self.writer is not None:
            self.writer.release()
            self.writer = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
