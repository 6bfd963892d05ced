"""Random inputs that exercise the pixel models' rounding and clipping
rules (NumPy only), shared by tests/ops and tools/cuda_check."""
import numpy as np


def random_rois(rng, k, n_images, height_px, width_px, cell=16.0):
    """[K, 5] RoIs mixing the cases the pixel models treat specially.

    Sizes are log-uniform from a fraction of a cell to twice the image, so
    RoIs are tiny, huge, partly or fully outside the image; a quarter are
    snapped to half-cell coordinates ((m + 0.5) * cell) so that C rounding of
    halves decides bins; one is degenerate (x2 < x1).
    """
    rois = np.zeros((k, 5))
    rois[:, 0] = rng.integers(0, n_images, size=k)
    size = np.exp(rng.uniform(np.log(cell / 4), np.log(2 * max(height_px, width_px)), (k, 2)))
    centre = rng.uniform(-0.3, 1.3, (k, 2)) * [width_px, height_px]
    rois[:, 1:3] = centre - size / 2
    rois[:, 3:5] = centre + size / 2
    snap = rng.random(k) < 0.25
    rois[snap, 1:] = (np.floor(rois[snap, 1:] / cell) + 0.5) * cell
    if k > 2:
        rois[-1, 1:] = [width_px * 0.6, height_px * 0.6, width_px * 0.4, height_px * 0.4]
    return rois


def features(rng, shape, dtype=np.float64):
    """Distinct-valued features (no ties, so max-pool gradients are stable)."""
    n = int(np.prod(shape))
    values = rng.permutation(n).astype(np.float64) / n - 0.5
    return values.reshape(shape).astype(dtype)
