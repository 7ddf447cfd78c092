"""Data for the experiments: MNIST (bundled test set and user copies) and synthetic inputs."""
from .mnist import (
    IMAGES_MAGIC,
    LABELS_MAGIC,
    N_PIXELS,
    bundled_mnist_dir,
    load_mnist,
    mnist_subset,
    one_hot,
    preprocess,
    read_idx_images,
    read_idx_labels,
    read_npz,
    subset_indices,
)
from .synthetic import (
    FIGURE2_N_POINTS,
    FIGURE2_SEED,
    X0,
    circle_points,
    circle_slice,
    figure2_training_set,
    gaussian_points,
    product_target,
)

__all__ = [
    "IMAGES_MAGIC", "LABELS_MAGIC", "N_PIXELS", "bundled_mnist_dir", "load_mnist", "mnist_subset",
    "one_hot", "preprocess", "read_idx_images", "read_idx_labels", "read_npz", "subset_indices",
    "FIGURE2_N_POINTS", "FIGURE2_SEED", "X0", "circle_points", "circle_slice",
    "figure2_training_set", "gaussian_points", "product_target",
]
