"""The PNGs of the lessons ``earlystop`` and ``scaling`` (matplotlib, Agg canvas), in Figures 1–3's
style (:mod:`.plotting`): large fonts, thick theory curves, the checks in the footer."""
from __future__ import annotations


import numpy as np

from .plotting import STYLE, THEORY, WIDTH_COLORS, checks_footer, new_figure, save_png


def plot_earlystop(result, path) -> str:
    import matplotlib

    a = result.arrays
    widths = [int(w) for w in a["widths"]]
    t_star = float(a["t_star"])
    t = a["times_noisy"][:-1]
    noise = f"{100 * float(a['noise']):g} %"
    with matplotlib.rc_context(STYLE):
        fig = new_figure(19, 6.8)
        ax1, ax2, ax3 = fig.subplots(1, 3)
        for ax, key, title in ((ax1, "test_loss", "(a) test loss (true labels)"),
                               (ax2, "test_accuracy", "(b) test accuracy")):
            ax.plot(t, a[f"{key}_noisy"][:-1], color=THEORY, lw=3, label=f"n = ∞, {noise} noisy labels")
            if key == "test_loss":
                ax.plot(t, a["test_loss_clean"][:-1], color="0.45", lw=2.2, ls="--", label="n = ∞, clean labels")
                ax.axhline(float(a["test_loss_noisy"][-1]), color=THEORY, lw=1, ls=":", label="n = ∞ at t = ∞")
            for i, w in enumerate(widths):
                tn = np.maximum(a[f"net{w}_times"], t[0])
                ax.plot(tn, a[f"net{w}_{key}"], "o-", ms=4, lw=1.2, color=WIDTH_COLORS[i], label=f"n = {w}")
            ax.axvline(t_star, color="#e7298a", lw=2, label=f"t* = {t_star:.4g}")
            ax.set_xscale("log")
            ax.set_xlabel("t  (steps × η)")
            ax.set_title(title)
            ax.legend(loc="best", frameon=True, framealpha=0.9, fontsize=11)
        lo = float(np.min(a["test_loss_noisy"]))
        ax1.set_ylim(lo - 0.02, max(lo + 0.25, float(a["test_loss_noisy"][-1]) + 0.05))
        lam = a["eigenvalues"]
        idx = np.arange(1, len(lam) + 1)
        pos = lam > 0
        sc = ax3.scatter(idx[pos], lam[pos], c=a["fitted_share"][pos], cmap="viridis", vmin=0, vmax=1, s=14)
        fig.colorbar(sc, ax=ax3, label="1 − exp(−λᵢ t*): share fitted by t*")
        ax3.set_xscale("log")
        ax3.set_yscale("log")
        ax3.set_xlabel("component i")
        ax3.set_ylabel("λᵢ of Θ∞(X,X)/N")
        ax3.set_title("(c) spectrum: what is fitted by t*")
        checks_footer(fig, result)
        fig.suptitle(f"Early stopping on {int(a['split'][0])} MNIST digits with {noise} noisy labels (ReLU, L = 4, "
                     f"β = 0.1, η = {float(a['lr']):.3g})", fontsize=16)
        return save_png(fig, path)


def _loglog(ax, w, values, color, label, marker="o"):
    ok = np.isfinite(values) & (values > 0)
    ax.plot(w[ok], values[ok], marker, color=color, ms=8, label=label)
    if ok.sum() >= 2:
        slope, c = np.polyfit(np.log(w[ok]), np.log(values[ok]), 1)
        ax.plot(w, np.exp(c) * w ** slope, "-", color=color, lw=2, label=f"fit: slope {slope:+.2f}")


def _reference(ax, w, anchor, slope, text, ls):
    ax.plot(w, anchor * (w / w[0]) ** slope, color=THEORY, lw=1.4, ls=ls, label=text)


def plot_scaling(result, path) -> str:
    import matplotlib

    a = result.arrays
    w = a["widths"].astype(np.float64)
    with matplotlib.rc_context(STYLE):
        fig = new_figure(17, 11)
        (ax1, ax2), (ax3, ax4) = fig.subplots(2, 2)
        _loglog(ax1, w, a["spread_ntk"], WIDTH_COLORS[0], "NTK parametrization")
        _loglog(ax1, w, a["spread_standard"], WIDTH_COLORS[1], "standard parametrization", "s")
        _reference(ax1, w, a["spread_ntk"][0], -0.5, "n^(−1/2)", ":")
        _reference(ax1, w, a["spread_standard"][0], 0.5, "n^(+1/2)", "--")
        ax1.set_title("(a) spread of Θ₀(x₀, ·) across initializations")
        ax1.set_ylabel("std")
        drift = np.nanmean(a["drift"], axis=1)
        _loglog(ax2, w, drift, WIDTH_COLORS[0], "mean drift (NTK param.)")
        _reference(ax2, w, drift[0], -0.5, "n^(−1/2)", ":")
        _reference(ax2, w, drift[0], -1.0, "n^(−1)", "--")
        ax2.set_title(f"(b) drift ‖Θ_t − Θ₀‖/‖Θ₀‖ after {int(a['steps'])} steps")
        dist = np.nanmean(a["distance"], axis=1)
        _loglog(ax3, w, dist, WIDTH_COLORS[2], "RMS of f_t − f_t^∞ (same f₀)")
        _reference(ax3, w, dist[0], -0.5, "n^(−1/2)", ":")
        ax3.set_title("(c) distance of f_t from the limit")
        lr = float(a["lr"])
        ax4.plot(w, a["bound_standard"], "s-", color=WIDTH_COLORS[1], lw=2, label="2N/λ_max, standard param.")
        ax4.plot(w, 6 * a["bound_standard"], ":", color=WIDTH_COLORS[1], lw=1.5, label="6 × bound (catapult limit)")
        ax4.axhline(float(a["bound_ntk"]), color=WIDTH_COLORS[0], lw=2, label="2N/λ_max, NTK param.")
        ax4.axhline(lr, color=THEORY, lw=2.5, ls="--", label=f"η = {lr:g}")
        share = np.mean(a["diverged_standard"], axis=1)
        for x, sh in zip(w, share):
            ax4.annotate(f"{100 * sh:.0f} % diverged", (x, lr), textcoords="offset points", xytext=(0, 10),
                         ha="center", fontsize=10, rotation=90, va="bottom")
        ax4.set_title("(d) standard parametrization at the same η")
        ax4.set_ylabel("learning rate")
        for ax in (ax1, ax2, ax3, ax4):
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("width n")
            ax.legend(loc="best", frameon=True, framealpha=0.9, fontsize=10)
        checks_footer(fig, result)
        k = a["theta_t0_ntk"].shape[1]
        fig.suptitle(f"Scaling with width on the circle: {k} initializations per width (ReLU, L = 4, β = 0.1, "
                     f"η = {lr:g})", fontsize=16)
        return save_png(fig, path)


PLOTTERS = {"earlystop": plot_earlystop, "scaling": plot_scaling}

