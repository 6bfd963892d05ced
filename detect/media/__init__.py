"""Streams of pictures in and out of a detector: video files and cameras
(video.py), folders and globs of image files read ahead in threads
(folder.py), the written list of a folder's images (image_list.py) and
append-only JSON lines that survive a kill (jsonl.py). tools/demo.py and
tools/predict.py run through them."""
