"""Short videos of moving toy shapes, written with OpenCV for the tests."""
import cv2
import numpy as np


def toy_frame(i, height=64, width=96):
    """BGR uint8 [height, width, 3]: a red box moving right, a blue disc
    moving left, on green."""
    f = np.full((height, width, 3), (40, 90, 30), np.uint8)
    cv2.rectangle(f, (5 + 2 * i, 10), (30 + 2 * i, 40), (0, 0, 255), -1)
    cv2.circle(f, (70 - i, 40), 12, (255, 200, 0), -1)
    return f


def write_video(path, frames=20, fps=12.0, fourcc="MJPG", height=64, width=96):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    assert writer.isOpened(), path
    for i in range(frames):
        writer.write(toy_frame(i, height, width))
    writer.release()
    return str(path)


def decoded_frames(path):
    """The BGR frames OpenCV decodes from a video file."""
    capture, frames = cv2.VideoCapture(str(path)), []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames
