"""Runs a detector over folders or globs of images without annotations:
COCO results out, resumed where a rerun finds them.

    python tools/predict.py --output output/toy_quickstart photos/ --out-dir preds
    python tools/predict.py --saved-model exports/toy "photos/**/*.jpg" --out-dir preds --classes person
    python tools/reval.py --dataset coco:ann.json:photos --results preds/results.json --image-list preds/images.json

Writes to --out-dir:
  images.json       the image list (detect/media/image_list.py): images
                    [{id, file_name, path}] and the model's categories
                    [{id, name}]; written before the first image runs
  detections.jsonl  a line per image as it is done: {image_id, file_name,
                    height, width, boxes [[x1, y1, x2, y2]], scores, classes
                    (names), masks (COCO RLE, Mask R-CNN)}, or {image_id,
                    file_name, skipped: why}
  results.json      COCO results: image_id, category_id (the model's class
                    index, named in images.json), bbox [x, y, w, h], score,
                    segmentation; made from detections.jsonl at the end
  skipped.txt       each skipped file and why (tab-separated)
  run.json          the model and the settings
results.json, images.json and skipped.txt are written whole and renamed
into place; detections.jsonl gains whole lines only (a torn last line is cut
off on resume). Ctrl-C or SIGTERM writes results.json of the images done
and exits 130 or 143; the same command again runs only the images without a
line, and new files found in the folders get new ids. Another model or
other settings on the same --out-dir are refused (--restart starts anew).
A broken, empty or oversized file (over --max-pixels, from its header) is
skipped, counted and listed. Images are decoded ahead of the model in
threads through a bounded queue (--read-ahead), so memory stays flat over
any number of files; --batch-size runs same-sized images together.
"""
import argparse
import json
import os
import re
import sys
import time

from detect.tf_env import set_defaults

set_defaults()  # before TensorFlow is imported (detect/tf_env.py)

import tensorflow as tf
from tqdm import tqdm

from detect.cli.arg_types import at_least_one, class_list, unit_interval
from detect.cli.detections import check_classes, select, skip_reason, to_json
from detect.cli.model_args import add_model_args, load_predictor
from detect.datasets.image_check import MAX_PIXELS
from detect.media.folder import IMAGE_EXTS, expand, read_ahead, read_image
from detect.media.image_list import ImageList, ImageListError
from detect.media.jsonl import JsonLines
from detect.utils.atomic import atomic_open, write_json_atomic
from detect.utils.stopping import StopRequests, Stopped, stop_signal

LINE_START = re.compile(r'\{"image_id":(\d+),')
# run.json first: a --restart killed midway leaves no run.json, so nothing is resumed
FILES = ("run.json", "detections.jsonl", "images.json", "results.json", "skipped.txt")


def parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("images", nargs="+", help="image files, folders or globs (quoted: \"a/**/*.jpg\")")
    add_model_args(p)
    p.add_argument("--out-dir", required=True, help="where the outputs go (see above)")
    p.add_argument("--thresh", type=unit_interval, default=0.0,
                   help="keep detections scoring at least this (default 0: all the model gives, "
                        "as COCO evaluation wants)")
    p.add_argument("--classes", action="extend", type=class_list, metavar="NAME[,NAME]",
                   help="only these classes (e.g. person)")
    p.add_argument("--recursive", action="store_true", help="also the images in subfolders of folders")
    p.add_argument("--batch-size", type=at_least_one, default=1,
                   help="images a model call (same-sized ones; run folders only)")
    p.add_argument("--read-ahead", type=at_least_one, default=8, help="images decoded ahead of the model")
    p.add_argument("--workers", type=at_least_one, default=2, help="decoding threads")
    p.add_argument("--max-pixels", type=int, default=MAX_PIXELS,
                   help="skip larger images (height x width, from the header)")
    p.add_argument("--restart", action="store_true", help="discard what --out-dir holds and start anew")
    return p


def settings(a, predictor):
    return {"model": os.path.abspath(a.saved_model or a.output), "kind": predictor.kind,
            "checkpoint": predictor.checkpoint and os.path.abspath(predictor.checkpoint),
            "thresh": a.thresh, "classes": sorted(a.classes or []), "max_pixels": a.max_pixels}


def open_out_dir(a, predictor):
    """(ImageList, whether earlier work is resumed); refuses other settings."""
    if os.path.exists(a.out_dir) and not os.path.isdir(a.out_dir):
        raise ValueError(f"--out-dir {a.out_dir} is a file; name a folder (it is made if missing)")
    os.makedirs(a.out_dir, exist_ok=True)
    run_json = os.path.join(a.out_dir, "run.json")
    if a.restart:
        for name in FILES:
            if os.path.exists(os.path.join(a.out_dir, name)):
                os.remove(os.path.join(a.out_dir, name))
    resume = os.path.exists(run_json)
    lines = os.path.join(a.out_dir, "detections.jsonl")
    if resume and not os.path.exists(os.path.join(a.out_dir, "images.json")) \
            and os.path.exists(lines) and os.path.getsize(lines):
        raise ImageListError(f"{a.out_dir} has detections.jsonl but no images.json, which says "
                             "what its image ids are; --restart starts this folder anew")
    if resume:
        with open(run_json) as f:
            before = json.load(f)
        now = settings(a, predictor)
        changed = [k for k in now if before.get(k) != now[k]]
        if changed:
            raise ImageListError(
                f"{a.out_dir} holds predictions made with other settings ("
                + "; ".join(f"{k}: {before.get(k)} there, {now[k]} now" for k in changed)
                + "); use another --out-dir, or --restart to start this one anew")
    image_list = ImageList(os.path.join(a.out_dir, "images.json"), predictor.class_names)
    write_json_atomic(run_json, settings(a, predictor), indent=1)
    return image_list, resume


def write_results(out_dir, class_names):
    """results.json (COCO results) and skipped.txt from detections.jsonl,
    streamed: one image's detections in memory at a time. An image's last
    line counts (a skipped file tried again on a rerun has two). Returns
    (images with detections, skipped images, detections)."""
    from detect.engine.inference import detections_to_results

    lines = os.path.join(out_dir, "detections.jsonl")
    last = {}  # image_id: the number of its last line
    with open(lines) as f:
        for n, line in enumerate(f):
            if line.endswith("\n"):
                last[line_image_id(line)] = n
    index = {n: i for i, n in enumerate(class_names)}
    done, skipped, count = 0, [], 0
    with atomic_open(os.path.join(out_dir, "results.json")) as out, open(lines) as f:
        out.write("[")
        for n, line in enumerate(f):
            if not line.endswith("\n"):
                break
            if last[line_image_id(line)] != n:
                continue  # superseded by a later line
            image = json.loads(line)
            if "skipped" in image:
                skipped.append(f"{image['file_name']}\t{image['skipped']}\n")
                continue
            done += 1
            results = detections_to_results(
                {"image_id": image["image_id"]}, image["boxes"], image["scores"],
                [index[n] for n in image["classes"]])
            for r, rle in zip(results, image.get("masks") or [None] * len(results)):
                if rle is not None:
                    r["segmentation"] = rle
                out.write(("," if count else "") + json.dumps(r, separators=(",", ":")))
                count += 1
        out.write("]\n")
    with atomic_open(os.path.join(out_dir, "skipped.txt")) as f:
        f.writelines(skipped)
    return done, len(skipped), count


def line_image_id(line):
    """The image_id of a detections.jsonl line, read from its start (every
    line begins {"image_id":N,) without parsing its boxes and masks."""
    m = LINE_START.match(line)
    return int(m.group(1)) if m else json.loads(line)["image_id"]


def run(a, predictor, log, todo, bar, stop):
    """Runs the model over todo (image entries: {id, file_name, path}), a
    line per image to log (JsonLines); stop (StopRequests) is checked
    after each batch of --batch-size images. An image the model runs out of
    memory on is skipped (a batch that does is run again image by image)."""

    def skip(entry, reason):
        bar.write(f"skipped {entry['path']}: {reason}")
        log.append({"image_id": entry["id"], "file_name": entry["file_name"], "skipped": reason})
        bar.update()

    def flush(batch):
        if not batch:
            return
        try:
            outs = predictor([rgb for _, rgb in batch], batch_size=a.batch_size)
        except (MemoryError, tf.errors.ResourceExhaustedError) as e:
            if len(batch) > 1:
                for item in batch:
                    flush([item])
                return
            skip(batch[0][0], skip_reason(e))
            return
        for (entry, rgb), out in zip(batch, outs):
            line = {"image_id": entry["id"], "file_name": entry["file_name"],
                    "height": int(rgb.shape[0]), "width": int(rgb.shape[1])}
            line.update(to_json(select(out, a.thresh, a.classes), decimals=(2, 5)))
            log.append(line)
            bar.update()

    entries = {e["path"]: e for e in todo}
    batch = []
    for path, rgb, error in read_ahead([e["path"] for e in todo],
                                       lambda p: read_image(p, a.max_pixels), a.read_ahead, a.workers):
        if error is not None:  # the images before it first: lines in order
            flush(batch)
            batch = []
            skip(entries[path], skip_reason(error))
        else:
            batch.append((entries[path], rgb))
            if len(batch) >= a.batch_size:
                flush(batch)
                batch = []
        if not batch:
            stop.check()
    flush(batch)


def prepare(a, predictor):
    """(the image entries still to run, the open JsonLines log); ValueError
    naming what is wrong with the arguments or --out-dir."""
    problem = check_classes(a.classes, predictor.class_names)
    if problem:
        raise ValueError(problem)
    found = expand(a.images, a.recursive)
    if not found:
        raise ValueError(f"no image matches {a.images} (image files: {' '.join(IMAGE_EXTS)}"
                         f"{'' if a.recursive else '; --recursive for subfolders'})")
    image_list, resume = open_out_dir(a, predictor)
    entries = image_list.add(found)
    image_list.save()
    log = JsonLines(os.path.join(a.out_dir, "detections.jsonl"), resume=resume,
                    pick=lambda line: (line["image_id"], "skipped" in line))
    done = {image_id for image_id, skipped in log.lines if not skipped}
    todo = [e for e in entries if e["id"] not in done]  # skipped files are tried again
    if resume:
        print(f"resuming {a.out_dir}: {len(entries) - len(todo)} of {len(entries)} images done before")
    return todo, log


def main(argv=None):
    a = parser().parse_args(argv)
    t0, status, log = time.time(), 0, None
    with StopRequests() as stop:
        try:
            predictor = load_predictor(a)
            stop.check()
            todo, log = prepare(a, predictor)
            with log, tqdm(total=len(todo), desc="predict", unit="img") as bar:
                run(a, predictor, log, todo, bar, stop)
        except (KeyError, ValueError, FileNotFoundError, NotADirectoryError, FileExistsError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        except (Stopped, KeyboardInterrupt) as e:
            print(f"stopped by {stop_signal(e).name}" + (": the images done are kept; the same "
                  "command again goes on from there" if log else ""), file=sys.stderr)
            status = 128 + stop_signal(e)
            if log is None:
                return status
        try:
            images, skipped, count = write_results(a.out_dir, predictor.class_names)
        except KeyboardInterrupt:  # asked twice: results.json stays as it was
            print("stopped by SIGINT while writing results.json: the same command again writes it",
                  file=sys.stderr)
            return 130
        if stop.signum is not None and status == 0:  # asked while writing: done, but say so
            status = 128 + stop.signum
    print(f"{images} images, {count} detections -> {os.path.join(a.out_dir, 'results.json')}; "
          f"{skipped} skipped" + (f" (listed in {os.path.join(a.out_dir, 'skipped.txt')})" if skipped
                                  else "") + f"; {time.time() - t0:.1f} s")
    if status == 0 and images == 0 and skipped:
        return 1
    return status
