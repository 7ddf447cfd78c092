"""The three figures as PNG files (matplotlib, Agg canvas; no pyplot, no display).

Styled for projection: large fonts, thick reference curves, a legend on every panel.  Each
function takes the :class:`~ntk_desktop.figures.common.FigureResult` of its figure and a path.
"""
from __future__ import annotations

import math
import os

import numpy as np

from ..atomic import atomic_open

DPI = 160

#: colours of the widths (narrow → wide) and of the theory
WIDTH_COLORS = ("#d95f02", "#1b9e77", "#7570b3", "#e7298a")
THEORY = "black"

_STYLE = {
    "font.size": 14,
    "axes.titlesize": 15,
    "axes.labelsize": 15,
    "legend.fontsize": 12,
    "xtick.labelsize": 13,
    "ytick.labelsize": 13,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "savefig.facecolor": "white",
    "figure.facecolor": "white",
}


def _figure(width, height):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path) -> str:
    """Write the PNG atomically (a temporary file in the same folder, then a rename)."""
    path = os.fspath(path)
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=DPI)
    return path


def _angle_axis(ax):
    ticks = [-math.pi, -math.pi / 2, 0, math.pi / 2, math.pi]
    ax.set_xticks(ticks)
    ax.set_xticklabels(["−π", "−π/2", "0", "π/2", "π"])
    ax.set_xlim(-math.pi, math.pi)
    ax.set_xlabel("γ   (x = (cos γ, sin γ))")


def _footer(fig, result):
    """One line under the panels: every check with its value, threshold and outcome."""
    parts = [f"{'✓' if c.passed else '✗ FAIL'} {c.name} = {c.value:.3g} ({c.threshold_text()})"
             for c in result.checks]
    mode = "quick setting" if result.settings.get("quick") else "paper setting"
    head = f"Checks ({mode}, seed {result.settings.get('seed')}; reasons in {result.figure}_report.md):"
    width = int(fig.get_figwidth() * 10.5)      # characters per line at 11 pt
    lines, line = [], head
    for p in parts:
        if len(line) + 3 + len(p) > width:
            lines.append(line)
            line = p
        else:
            line = f"{line}   {p}"
    lines.append(line)
    fig.supxlabel("\n".join(lines), fontsize=11, color="0.25")


def plot_fig1(result, path) -> str:
    import matplotlib

    a = result.arrays
    g = a["gammas"]
    widths = [int(w) for w in a["widths"]]
    t = float(a["t"])
    with matplotlib.rc_context(_STYLE):
        fig = _figure(15, 6.6)
        ax, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.55, 1]})
        for i, w in enumerate(widths):
            c = WIDTH_COLORS[i]
            for k in range(a["theta_t0"].shape[1]):
                ax.plot(g, a["theta_t0"][i, k], color=c, lw=0.9, ls=(0, (4, 2)), alpha=0.75,
                        label=f"n = {w}, t = 0" if k == 0 else None)
            for k in range(a["theta_t"].shape[1]):
                ax.plot(g, a["theta_t"][i, k], color=c, lw=0.9, ls="-", alpha=0.9,
                        label=f"n = {w}, t = {t:g}" if k == 0 else None)
        ax.plot(g, a["theta_inf"], color=THEORY, lw=3.2, label="n = ∞  (Θ∞, analytic)")
        _angle_axis(ax)
        ax.set_ylabel("Θ⁽⁴⁾(x₀, x)")
        ax.set_title(f"(a) NTK on the unit circle, x₀ = (1, 0), {a['theta_t0'].shape[1]} initializations per width")
        ax.legend(loc="upper left", frameon=True, framealpha=0.9)

        for i, w in enumerate(widths):
            c = WIDTH_COLORS[i]
            ax2.plot(g, a["std_t0"][i], color=c, lw=2.2, label=f"n = {w}: std at t = 0")
        n1, n2 = widths
        ax2.plot(g, a["std_t0"][0] * math.sqrt(n1 / n2), color=WIDTH_COLORS[0], lw=1.6, ls=":",
                 label=f"n = {n1} std × √({n1}/{n2})  (1/√n law)")
        _angle_axis(ax2)
        ax2.set_ylabel("std of Θ(x₀, x) across initializations")
        ax2.set_ylim(bottom=0)
        ax2.set_title("(b) spread shrinks like 1/√n")
        ax2.legend(loc="upper left", frameon=True, framealpha=0.9)
        _footer(fig, result)
        fig.suptitle(f"Figure 1 — convergence of the NTK (ReLU, L = 4, β = 0.1, η = 1; dashed t = 0, "
                     f"solid t = {t:g})", fontsize=16)
        return _save(fig, path)


def plot_fig2(result, path) -> str:
    import matplotlib

    a = result.arrays
    g = a["gammas"]
    widths = [int(w) for w in a["widths"]]
    p10, p50, p90 = a["percentiles"]
    with matplotlib.rc_context(_STYLE):
        fig = _figure(15, 7.2)
        ax, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.7, 1]})
        ax.fill_between(g, p10, p90, color="0.85", lw=0, label="n = ∞: 10–90 % band")
        ax.plot(g, p50, color=THEORY, lw=2.8, label="n = ∞: median (P50)")
        ax.plot(g, p10, color=THEORY, lw=1.6, ls="--", label="n = ∞: P10 and P90")
        ax.plot(g, p90, color=THEORY, lw=1.6, ls="--")
        for i, w in enumerate(widths):
            c = WIDTH_COLORS[i]
            for k in range(a["f_network"].shape[1]):
                ax.plot(g, a["f_network"][i, k], color=c, lw=1.0 if i == 0 else 1.3, alpha=0.85,
                        label=f"n = {w} ({a['f_network'].shape[1]} networks)" if k == 0 else None)
        ax.plot(a["train_angles"], a["train_targets"], "o", ms=10, mfc="white", mec="black", mew=2.2,
                label="training points (x₁x₂)", zorder=5)
        _angle_axis(ax)
        ax.set_ylabel("f_θ(x)")
        if bool(a["until_converged"]):
            when = f"trained to convergence (≤ {int(a['max_steps'])} steps)"
        else:
            when = f"after t = {float(np.max(a['t'])):g}"
        ax.set_title(f"(a) network functions {when} vs the t → ∞ Gaussian")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False, ncol=3)

        lo, hi = a["mc_interval"]
        ax2.axhspan(lo * 100, hi * 100, color="0.88", label="limit: 99.9 % interval of the mean of "
                    f"{a['coverage_per_init'].shape[1]}")
        ax2.axhline(80, color=THEORY, lw=2, label="expected 80 %")
        rng = np.random.default_rng(0)
        for i, w in enumerate(widths):
            c = WIDTH_COLORS[i]
            per = a["coverage_per_init"][i] * 100
            x = i + rng.uniform(-0.12, 0.12, size=per.shape)
            ax2.plot(x, per, "o", color=c, alpha=0.6, ms=7, label="one network" if i == 0 else None)
            ax2.plot([i - 0.25, i + 0.25], [a["coverage"][i] * 100] * 2, color=c, lw=4,
                     label="mean over networks" if i == 0 else None)
        ax2.set_xticks(range(len(widths)))
        ax2.set_xticklabels([f"n = {w}" for w in widths])
        ax2.set_xlim(-0.6, len(widths) - 0.4)
        ax2.set_ylim(0, 105)
        ax2.set_ylabel("% of the slice inside the 10–90 % band")
        ax2.set_title("(b) coverage of the band")
        ax2.legend(loc="lower left", frameon=True, framealpha=0.9, fontsize=11)
        _footer(fig, result)
        fig.suptitle("Figure 2 — trained networks and the infinite-width distribution (ReLU, L = 4, β = 0.1, η = 1, "
                     "4 training points)", fontsize=16)
        return _save(fig, path)


def plot_fig3(result, path) -> str:
    import matplotlib

    a = result.arrays
    widths = [int(w) for w in a["widths"]]
    times = a["times"]
    with matplotlib.rc_context(_STYLE):
        fig = _figure(18, 6.4)
        ax1, ax2, ax3 = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.05, 1, 1]})
        from matplotlib import colormaps

        cmap = colormaps["tab10"]
        labels = a["labels"].astype(int)
        for d in range(10):
            sel = labels == d
            if np.any(sel):
                ax1.scatter(a["pc_coords"][sel, 0], a["pc_coords"][sel, 1], s=16, color=cmap(d), alpha=0.85,
                            label=str(d), edgecolors="none")
        ax1.set_xlabel("f⁽²⁾(x)  (2nd principal component)")
        ax1.set_ylabel("f⁽³⁾(x)  (3rd principal component)")
        ax1.set_title(f"(a) {len(labels)} MNIST digits in the plane of PC2, PC3")
        ax1.legend(title="digit", loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, fontsize=11,
                   markerscale=1.8, handletextpad=0.2)

        styles = ["-", "--", ":", "-."]
        for i, w in enumerate(widths):
            c = WIDTH_COLORS[i % len(WIDTH_COLORS)]
            for k in range(a["h_norm"].shape[1]):
                ax2.plot(times, a["h_norm"][i, k], color=c, lw=2.2, ls=styles[k % len(styles)],
                         label=f"n = {w}" if k == 0 else None)
        ax2.axhline(0, color=THEORY, lw=2.5, label="n = ∞ (h_t = 0)")
        ax2.set_xlabel("t  (steps × η)")
        ax2.set_ylabel("‖h_t‖  (orthogonal to f⁽²⁾)")
        ax2.set_title("(b) deviation from the straight line")
        ax2.legend(loc="upper left", frameon=True, framealpha=0.9)

        for i, w in enumerate(widths):
            c = WIDTH_COLORS[i % len(WIDTH_COLORS)]
            for k in range(a["g_norm"].shape[1]):
                ax3.plot(times, a["g_norm"][i, k], color=c, lw=2.2, ls=styles[k % len(styles)],
                         label=f"n = {w}" if k == 0 else None)
        lam2 = float(a["lambda2"])
        ax3.plot(times, a["theory_g"], color=THEORY, lw=3, ls=(0, (5, 2)),
                 label=f"0.5·exp(−λ₂t), λ₂ = {lam2:.4g}")
        ax3.set_xlabel("t  (steps × η)")
        ax3.set_ylabel("‖g_t‖  (along f⁽²⁾)")
        ax3.set_ylim(bottom=0)
        ax3.set_title("(c) convergence along the 2nd component")
        ax3.legend(loc="upper right", frameon=True, framealpha=0.9)
        _footer(fig, result)
        n_trials = a["g_norm"].shape[1]
        names = ["solid", "dashed", "dotted", "dash-dotted"]
        trials = (f"; {'/'.join(names[:n_trials])}: {n_trials} trials" if 1 < n_trials <= len(names)
                  else f"; {n_trials} trials" if n_trials > 1 else "")
        fig.suptitle("Figure 3 — kernel PCA of Θ∞ on MNIST and training along f* = f₀ + 0.5 f⁽²⁾ "
                     f"(ReLU, L = 4, β = 0.1, η = {float(a['lr']):.3g}{trials})", fontsize=16)
        return _save(fig, path)


#: the lessons' palette indices (Curve.color): the width colours, then yellow, then the theory's black
LESSON_COLORS = WIDTH_COLORS + ("#e6ab02", THEORY)


def _lesson_curve(ax, c) -> None:
    """One :class:`~ntk_desktop.experiments.lessons.live.Curve` in its style."""
    color = LESSON_COLORS[c.color % len(LESSON_COLORS)]
    if c.style == "points":
        ax.plot(c.x, c.y, "o", color=color, ms=5, label=c.name)
    elif c.style == "bars":
        width = np.min(np.diff(c.x)) * 0.8 if len(c.x) > 1 else 0.8
        ax.bar(c.x, c.y, width=width, color=color, alpha=0.7, label=c.name)
    else:
        ax.plot(c.x, c.y, color=color, lw=3 if c.style == "dashed" else 2.2,
                ls=(0, (5, 2)) if c.style == "dashed" else "-", label=c.name)


def plot_lesson(result, path) -> str:
    """A lesson's PNG: its final snapshot's plots (``result.plots``, the ones the application
    draws live), two per row, with the checks under them."""
    import matplotlib

    plots = result.plots
    cols = 2 if len(plots) > 1 else 1
    rows = -(-len(plots) // cols)
    with matplotlib.rc_context(_STYLE):
        fig = _figure(7.5 * cols, 5.2 * rows + 1.0)
        axes = fig.subplots(rows, cols, squeeze=False).ravel()
        for ax, spec in zip(axes, plots):
            for c in spec.curves:
                _lesson_curve(ax, c)
            ax.set_xscale("log" if spec.logx else "linear")
            ax.set_yscale("log" if spec.logy else "linear")
            if spec.marker_x is not None:
                ax.axvline(spec.marker_x, color="0.3", ls=":", lw=2)
            ax.set_xlabel(spec.xlabel)
            ax.set_ylabel(spec.ylabel)
            ax.set_title(spec.title)
            if spec.curves:
                ax.legend(loc="best", frameon=True, framealpha=0.9, fontsize=10)
        for ax in axes[len(plots):]:
            ax.set_visible(False)
        _footer(fig, result)
        fig.suptitle(result.title, fontsize=16)
        return _save(fig, path)


PLOTTERS = {"fig1": plot_fig1, "fig2": plot_fig2, "fig3": plot_fig3, "randfeat": plot_lesson, "posdef": plot_lesson,
            "earlystop": plot_lesson, "scaling": plot_lesson}
