"""tools/demo.py on a video file or a camera: an annotated video and the
detections of each frame as JSON lines.

For a source <stem>.mp4 (or camera N: camera<N>) it writes to --out-dir
  <stem>_det.mp4     every frame, at the source's rate and size, with the
                     detections drawn (--video-ext .avi: MJPG in AVI)
  <stem>_det.jsonl   a line per detected frame: {frame (index from 0),
                     time (seconds, the container's time stamp), boxes
                     [[x1, y1, x2, y2]] (pixels), scores, classes (names),
                     masks (COCO RLE, Mask R-CNN)}
--every N detects on frames 0, N, 2N, ... and draws the frames between with
the last detections; --thresh and --classes apply as to images. Ctrl-C,
SIGTERM, a frame that does not decode or a file that ends early (truncated)
stop the reading: the video is closed (playable) and the JSON lines are
whole, both up to the last frame done. A video that cannot be opened is
reported and the next input runs.
"""
import os
import sys

import numpy as np
from tqdm import tqdm

from detect.cli.detections import select, to_json
from detect.media.jsonl import JsonLines
from detect.media.video import VideoError, VideoSink, VideoSource
from detect.utils.stopping import Stopped, stop_signal
from detect.visualization import draw, picture_name


class FrameRunner:
    """Detects on every ``--every``-th frame, in batches of ``--batch-size``
    such frames, and draws and writes every frame in order (sink: VideoSink,
    log: JsonLines). A frame waits only for the detections it is drawn
    with: frames after the last detected one go straight out; at most
    (batch_size - 1) x every + 1 frames are held."""

    def __init__(self, predictor, a, sink, log):
        self.predictor, self.a, self.sink, self.log = predictor, a, sink, log
        self.pending, self.last, self.frames, self.detected = [], None, 0, 0
        self.kept, self.best_other = 0, None  # detections kept; the best score of the wanted classes

    def add(self, index, seconds, bgr):
        """One frame: its index from 0, its time stamp (s), BGR uint8 [H, W, 3]."""
        if not self.pending and index % self.a.every:
            self._write(index, seconds, bgr)  # drawn with the last detections
            return
        self.pending.append((index, seconds, bgr))
        if sum(i % self.a.every == 0 for i, _, _ in self.pending) >= self.a.batch_size:
            self.flush()

    def flush(self):
        """Detects on the pending frames due for it, then writes them all."""
        chosen = [(i, bgr) for i, _, bgr in self.pending if i % self.a.every == 0]
        outs = self.predictor([np.ascontiguousarray(bgr[..., ::-1]) for _, bgr in chosen],
                              batch_size=self.a.batch_size) if chosen else []
        found = {i: select(out, self.a.thresh, self.a.classes) for (i, _), out in zip(chosen, outs)}
        for index, seconds, bgr in self.pending:
            if index in found:
                self.last = found[index]
                self.kept += len(self.last["scores"])
                if self.last["best_other"] is not None:
                    self.best_other = max(self.best_other or 0.0, self.last["best_other"])
                self.log.append({"frame": index, "time": round(float(seconds), 4),
                                 **to_json(self.last)})
                self.detected += 1
            self._write(index, seconds, bgr)
        self.pending = []

    def _write(self, index, seconds, bgr):
        d = self.last
        if d is not None:
            draw(bgr, d["boxes"], d["scores"], d["class_names"], d["classes"], d.get("masks"))
        self.sink.write(bgr)
        self.frames += 1


def run_video(predictor, source, a, used, stop):
    """Runs one video file or camera (an int); returns the exit status
    (0, 1 when the file ended early, 2 when it cannot be opened or written,
    128 + the signal when stopped). stop: a StopRequests, checked between
    frames."""
    try:
        video = VideoSource(source)
    except VideoError as e:
        print(f"skipped {source if isinstance(source, str) else 'camera ' + str(source)}: {e}")
        return 2
    stem = f"camera{source}" if video.camera else source
    out_video = os.path.join(a.out_dir, picture_name(stem, used, "_det", a.video_ext))
    out_lines = os.path.splitext(out_video)[0] + ".jsonl"
    total = min(filter(None, (video.frame_count, a.max_frames)), default=None)
    status, runner, stopped = 0, None, None
    try:
        with video, VideoSink(out_video, video.fps, video.size) as sink, \
                JsonLines(out_lines) as log, tqdm(total=total, desc=os.path.basename(video.name),
                                                  unit="frame") as bar:
            runner = FrameRunner(predictor, a, sink, log)
            try:
                for index, seconds, bgr in video:
                    runner.add(index, seconds, bgr)
                    bar.update(runner.frames - bar.n)
                    stop.check()
                    if a.max_frames and index + 1 >= a.max_frames:
                        break
            except Stopped as e:  # between frames: the frames read are still detected and written
                stopped = e
            runner.flush()
            bar.update(runner.frames - bar.n)
        if stopped is not None:
            raise stopped
    except VideoError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (Stopped, KeyboardInterrupt) as e:
        print(f"stopped by {stop_signal(e).name} after {runner.frames if runner else 0} frames: "
              f"{out_video} is closed and playable, {out_lines} whole", file=sys.stderr)
        status = 128 + stop_signal(e)
    if runner is None:
        return status
    if video.ended_early:
        print(f"warning: {video.name} ended at frame {video.frames_read} of the {video.frame_count} "
              "its container lists: the file is truncated or a frame does not decode; the frames "
              "read are written", file=sys.stderr)
        status = status or 1
    below = "" if runner.kept or runner.best_other is None else (
        f"; no detection scored --thresh {a.thresh} or more (the best, {runner.best_other:.2f}; a "
        "lower --thresh draws more)")
    print(f"{video.name}: {runner.frames} frames at {video.fps:.3g} fps ({video.size[0]}x{video.size[1]}), "
          f"{runner.detected} detected -> {out_video}, {out_lines}{below}")
    return status
