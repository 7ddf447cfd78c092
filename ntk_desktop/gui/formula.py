"""The recursion on screen: Σ^(1), Σ^(l+1), Σ̇^(l+1) and Θ^(l+1) as Matplotlib mathtext.

:func:`formula_lines` writes the recursion that :mod:`ntk_desktop.core.analytic` computes for a
nonlinearity and parametrization (the closed forms of the Gaussian expectations for ReLU and erf,
the expectations themselves otherwise); :func:`render_formula` draws it into a QPixmap with
Matplotlib's own TeX subset (no LaTeX installation needed).  Presentation mode shows it under the
caption (View → Show formula, F9).
"""
from __future__ import annotations

import io
from functools import lru_cache
from typing import List

from PySide6.QtGui import QPixmap

#: f ~ N(0, Σ^(l)), the Gaussian process of layer l
_E = r"\mathbb{E}_{f\sim\mathcal{N}(0,\Sigma^{(l)})}"
_NORM = r"\sqrt{\Sigma^{(l)}(x,x)\,\Sigma^{(l)}(x',x')}"


def _expectations(nonlinearity: str, beta2: str) -> List[str]:
    """The lines of Σ^(l+1) and Σ̇^(l+1) for ``nonlinearity``."""
    if nonlinearity == "relu":
        return [r"$\Sigma^{(l+1)}(x,x') = \frac{" + _NORM + r"}{2\pi}\,(\sin\theta + (\pi-\theta)\cos\theta)"
                + beta2 + "$",
                r"$\dot\Sigma^{(l+1)}(x,x') = \frac{\pi-\theta}{2\pi},\quad \theta = \arccos\frac{\Sigma^{(l)}(x,x')}{"
                + _NORM + r"}$"]
    if nonlinearity == "erf":
        den = r"\sqrt{(1+2\Sigma^{(l)}(x,x))(1+2\Sigma^{(l)}(x',x'))}"
        det = (r"\sqrt{(1+2\Sigma^{(l)}(x,x))(1+2\Sigma^{(l)}(x',x')) - 4\Sigma^{(l)}(x,x')^2}")
        return [r"$\Sigma^{(l+1)}(x,x') = \frac{2}{\pi}\arcsin\frac{2\Sigma^{(l)}(x,x')}{" + den + "}" + beta2 + "$",
                r"$\dot\Sigma^{(l+1)}(x,x') = \frac{4}{\pi\," + det + "}$"]
    name = {"leaky_relu": r"\mathrm{leaky\ ReLU}"}.get(nonlinearity, r"\mathrm{" + nonlinearity + "}")
    return [r"$\Sigma^{(l+1)}(x,x') = " + _E + r"[\sigma(f(x))\,\sigma(f(x'))]" + beta2
            + r",\quad \sigma = " + name + "$",
            r"$\dot\Sigma^{(l+1)}(x,x') = " + _E + r"[\dot\sigma(f(x))\,\dot\sigma(f(x'))]$"]


def formula_lines(nonlinearity: str, parametrization: str, beta: float) -> List[str]:
    """The recursion of the infinite-width kernels (one mathtext string per line).

    NTK parametrization (Jacot et al. 2018, Prop. 1, Thm. 1): Θ^(1) = Σ^(1) and
    Θ^(l+1) = Θ^(l) Σ̇^(l+1) + Σ^(l+1).  Standard parametrization (the large-width expectation
    that :func:`ntk_desktop.core.analytic.analytic_kernels` computes): the weights' gradients
    scale with the fan-in n_l, Θ^(1) = xᵀx' (+ 1) and Θ^(l+1) = Θ^(l) Σ̇^(l+1) + n_l (Σ^(l+1) − β²)
    (+ 1), the + 1 of the biases only when β > 0."""
    biases = beta > 0
    beta2 = r" + \beta^2" if biases else ""
    lines = [r"$\Sigma^{(1)}(x,x') = \frac{x^{\top}x'}{n_0}" + beta2 + "$"]
    lines += _expectations(nonlinearity, beta2)
    if parametrization == "standard":
        one = " + 1" if biases else ""
        fresh = r"n_l\,(\Sigma^{(l+1)} - \beta^2)" if biases else r"n_l\,\Sigma^{(l+1)}"
        lines.append(r"$\Theta^{(1)} = x^{\top}x'" + one + r",\quad \Theta^{(l+1)} = \Theta^{(l)}\,\dot\Sigma^{(l+1)} + "
                     + fresh + one + r"\quad(\mathrm{standard:\ widths}\ n_l)$")
    else:
        lines.append(r"$\Theta^{(1)} = \Sigma^{(1)},\quad \Theta^{(l+1)} = \Theta^{(l)}\,\dot\Sigma^{(l+1)}"
                     r" + \Sigma^{(l+1)}$")
    return lines


def formula_source(params) -> str:
    """The mathtext of the recursion for a :class:`~ntk_desktop.core.spec.NetworkSpec`."""
    return "\n".join(formula_lines(params.nonlinearity, params.parametrization, float(params.beta)))


@lru_cache(maxsize=64)
def _png(line: str, color: str, point_size: float, dpi: float) -> bytes:
    """One mathtext line as a transparent PNG, cropped to its ink."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure()
    FigureCanvasAgg(fig)
    fig.text(0.0, 0.0, line, color=color, fontsize=point_size, math_fontfamily="dejavusans")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, transparent=True, bbox_inches="tight", pad_inches=0.03)
    return buf.getvalue()


def render_formula(source: str, color: str, point_size: float, device_pixel_ratio: float = 1.0,
                   columns: int = 2) -> QPixmap:
    """``source`` (mathtext lines separated by newlines) drawn in ``color`` at ``point_size`` pt on
    a transparent QPixmap, the lines in ``columns`` columns read down then across (a wide panel
    holds them larger), each line rendered on its own (Matplotlib stacks tall fractions of
    consecutive lines into each other); sharp at ``device_pixel_ratio`` (72 pt = 96 logical
    pixels, as Qt's fonts)."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter

    dpr = max(1.0, float(device_pixel_ratio))
    images = [QImage.fromData(_png(line, color, float(point_size), 96.0 * dpr), "PNG")
              for line in source.split("\n") if line]
    gap = int(round(0.3 * point_size * dpr))
    rows = max(1, -(-len(images) // max(1, columns)))
    cols = [images[i:i + rows] for i in range(0, len(images), rows)]
    widths = [max(im.width() for im in col) for col in cols]
    width = max(1, sum(widths) + 3 * gap * (len(cols) - 1))
    height = max(1, max(sum(im.height() for im in col) + gap * (len(col) - 1) for col in cols)) if cols else 1
    out = QImage(width, height, QImage.Format.Format_ARGB32_Premultiplied)
    out.fill(Qt.GlobalColor.transparent)
    painter = QPainter(out)
    x = 0
    for col, w in zip(cols, widths):
        y = 0
        for im in col:
            painter.drawImage(x, y, im)
            y += im.height() + gap
        x += w + 3 * gap
    painter.end()
    pixmap = QPixmap.fromImage(out)
    pixmap.setDevicePixelRatio(dpr)
    return pixmap


def fitted(pixmap: QPixmap, max_width: int, max_height: int) -> QPixmap:
    """``pixmap`` scaled down (smoothly, keeping its aspect) to at most ``max_width`` ×
    ``max_height`` logical pixels."""
    from PySide6.QtCore import Qt

    dpr = pixmap.devicePixelRatio()
    w, h = pixmap.width() / dpr, pixmap.height() / dpr
    scale = min(1.0, max(max_width, 1) / max(w, 1.0), max(max_height, 1) / max(h, 1.0))
    if scale >= 1.0:
        return pixmap
    out = pixmap.scaled(max(1, int(pixmap.width() * scale)), max(1, int(pixmap.height() * scale)),
                        Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
    out.setDevicePixelRatio(dpr)
    return out
