"""``ntk_desktop.regress``: the Python form of ``ntk regress``, with the same keys as its npz."""
import numpy as np

import ntk_desktop
from conftest import dense_reference, one_hot_centred
from ntk_desktop.cli import main


def test_package_regress_equals_the_command(problem, tmp_path, capsys):
    X, y, T, yt, arch = problem
    res = ntk_desktop.regress(X, y, T, yt, arch=arch)
    ref = dense_reference(arch, X, one_hot_centred(y, 3), T, 1e-4)
    assert np.abs(res.predictions - ref).max() / np.abs(ref).max() < 1e-6
    for name, a in dict(X=X, y=y, T=T, yt=yt).items():
        np.save(tmp_path / f"{name}.npy", a)
    out = tmp_path / "r.npz"
    assert main(["regress", "--inputs", str(tmp_path / "X.npy"), "--targets", str(tmp_path / "y.npy"),
                 "--test-inputs", str(tmp_path / "T.npy"), "--test-targets", str(tmp_path / "yt.npy"),
                 "--depth", "3", "--out", str(out), "--quiet"]) == 0
    arrays = res.arrays()
    with np.load(out) as z:
        assert set(z.files) == set(arrays)
        for key in ("predictions", "predicted_labels", "accuracy", "mse", "widths", "beta"):
            assert np.allclose(z[key], arrays[key], rtol=1e-12)
