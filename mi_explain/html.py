"""A self-contained HTML view of a [layers, words] map: a saved page or a notebook cell.

One row per layer; each word is a chip whose background encodes its value (darker = more important)
and whose text colour (black or white) is chosen for the higher WCAG contrast ratio, which is always
≥ 4.58 against a pure black or white (WCAG AA asks ≥ 4.5).  The value is printed under every word, so
nothing needs hovering.  No JavaScript, no external resources: inline styles only, ``<meta charset>``.

:func:`render` takes plain data, so it serves every method; :func:`explanation_html` maps an
:class:`~mi_explain.Explanation` (σ, information, entropy) or a baseline's saliency map onto it.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

__all__ = ["contrast_ratio", "explanation_html", "page", "ramp", "relative_luminance", "render", "text_colour"]

# a sequential blue ramp (light → dark), RGB 0–255
_STOPS = [(247, 251, 255), (222, 235, 247), (198, 219, 239), (158, 202, 225), (107, 174, 214),
          (66, 146, 198), (33, 113, 181), (8, 81, 156), (8, 48, 107)]
_NAN_BG = (224, 224, 224)
_FONT = "system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif"
RGB = tuple[int, int, int]


def ramp(t: float) -> RGB:
    """Colour of importance ``t`` ∈ [0, 1] (0: lightest, 1: darkest)."""
    t = min(1.0, max(0.0, t)) * (len(_STOPS) - 1)
    i = min(int(t), len(_STOPS) - 2)
    f = t - i
    a, b = _STOPS[i], _STOPS[i + 1]
    return tuple(round(a[k] + (b[k] - a[k]) * f) for k in range(3))  # type: ignore[return-value]


def relative_luminance(rgb: Sequence[float]) -> float:
    """WCAG 2 relative luminance of an sRGB colour given as 0–255 channels."""
    def lin(c: float) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (lin(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(fg: Sequence[float], bg: Sequence[float]) -> float:
    """WCAG 2 contrast ratio (1–21) of two sRGB colours."""
    a, b = sorted((relative_luminance(fg), relative_luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def text_colour(bg: Sequence[float]) -> RGB:
    """Black or white, whichever contrasts more with ``bg``."""
    black, white = (0, 0, 0), (255, 255, 255)
    return black if contrast_ratio(black, bg) >= contrast_ratio(white, bg) else white


def _hex(rgb: Sequence[int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _importance(values: list[list[float]], important: str, log_scale: bool) -> tuple[list[list[float]], float, float]:
    """Map values to importance t ∈ [0, 1] over the whole map (NaN stays NaN); returns t, lo, hi."""
    def tr(v: float) -> float:
        return math.log(v) if log_scale else v
    finite = [tr(v) for row in values for v in row if math.isfinite(v) and (v > 0 or not log_scale)]
    if not finite:
        return [[math.nan for _ in row] for row in values], math.nan, math.nan
    lo, hi = min(finite), max(finite)
    if important == "large" and not log_scale and lo >= 0:
        lo = 0.0  # 0 (e.g. no information kept) is the lightest colour
    span = hi - lo
    out = []
    for row in values:
        r = []
        for v in row:
            if math.isnan(v):
                r.append(math.nan)
                continue
            if math.isinf(v) or (log_scale and v <= 0):
                x = (hi if v > 0 else lo)
            else:
                x = tr(v)
            u = (x - lo) / span if span > 0 else 1.0
            r.append(min(1.0, max(0.0, u if important == "large" else 1.0 - u)))
        out.append(r)
    inv = (lambda x: math.exp(x)) if log_scale else (lambda x: x)
    return out, inv(lo), inv(hi)


def _fmt(v: float, fmt: str) -> str:
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    return format(v, fmt)


def _chip(word: str, number: str, bg: RGB, tip: str) -> str:
    fg = text_colour(bg)
    return (f'<span class="mi-chip" title="{html.escape(tip)}" style="display:inline-flex;flex-direction:column;'
            f"align-items:center;background:{_hex(bg)};color:{_hex(fg)};border:1px solid #c8d0d8;border-radius:4px;"
            f"padding:2px 6px;"
            f'margin:2px;min-width:2.4em;line-height:1.25">'
            f'<span class="mi-word" style="font-size:14px">{html.escape(word)}</span>'
            f'<span class="mi-value" style="font-size:11px;font-variant-numeric:tabular-nums">'
            f"{html.escape(number)}</span></span>")


def render(
    words: Sequence[str],
    layers: Sequence[str],
    values: Any,
    *,
    value_name: str = "value",
    unit: str = "",
    important: str = "large",
    log_scale: bool = False,
    fmt: str = ".3g",
    at_bound: Any = None,
    at_bound_note: str = "at the upper bound",
    unconverged: Sequence[bool] | None = None,
    unconverged_note: str = "not converged",
    separators: Sequence[int] = (),
    model: str | None = None,
    method: str | None = None,
    target: str | None = None,
    text: str | tuple[str, str] | None = None,
    full_page: bool = True,
) -> str:
    """HTML of a ``[len(layers), len(words)]`` map ``values`` (nested lists, array or tensor).

    important: "large" (large values are important, drawn dark) or "small" (e.g. σ).  log_scale: shade
    by log(value) (for σ, which spans orders of magnitude).  at_bound: [layers, words] bool mask, marked
    ``*``; unconverged: [layers] bool, marked ``†``.  separators: word positions where the second text
    of a pair begins.  full_page: a whole document (``<!DOCTYPE html>``, charset, title) for a file;
    False: a fragment with inline styles only, for a notebook cell.
    """
    if important not in ("large", "small"):
        raise ValueError(f"important must be 'large' or 'small', got {important!r}")
    rows = values.tolist() if hasattr(values, "tolist") else [list(r) for r in values]
    words, layers = [str(w) for w in words], [str(name) for name in layers]
    if len(rows) != len(layers) or any(len(r) != len(words) for r in rows):
        raise ValueError(f"values must be [{len(layers)} layers, {len(words)} words], "
                         f"got {len(rows)} rows of lengths {sorted({len(r) for r in rows})}")
    rows = [[float(v) for v in r] for r in rows]
    bound = at_bound.tolist() if hasattr(at_bound, "tolist") else at_bound
    unconv = list(unconverged.tolist() if hasattr(unconverged, "tolist") else unconverged or [])
    shade, lo, hi = _importance(rows, important, log_scale)
    seps = set(int(s) for s in separators)
    unit_txt = f" ({unit})" if unit else ""

    body_rows = []
    for i, name in enumerate(layers):
        chips = []
        for j, word in enumerate(words):
            if j in seps:
                chips.append('<span aria-hidden="true" style="align-self:center;margin:0 6px;color:#333;'
                             'font-size:18px">‖</span>')
            t = shade[i][j]
            bg = _NAN_BG if math.isnan(t) else ramp(t)
            number = _fmt(rows[i][j], fmt)
            star = bool(bound[i][j]) if bound is not None else False
            if star:
                number += "*"
            tip = f"{name}, {word}: {value_name} = {_fmt(rows[i][j], '.4g')}{unit_txt}"
            tip += f" ({at_bound_note})" if star else ""
            chips.append(_chip(word, number, bg, tip))
        dagger = " †" if i < len(unconv) and bool(unconv[i]) else ""
        body_rows.append(
            f'<tr><th scope="row" style="text-align:right;padding:4px 8px;white-space:nowrap;font-weight:600;'
            f'font-size:13px;vertical-align:middle">{html.escape(name + dagger)}</th>'
            f'<td style="padding:2px 0"><div style="display:flex;flex-wrap:wrap;align-items:stretch">'
            f'{"".join(chips)}</div></td></tr>')

    heading = " · ".join(p for p in (model, method, f"target {target}" if target else None) if p)
    if isinstance(text, tuple):
        text = " ‖ ".join(text)
    legend = _legend(value_name, unit, important, lo, hi, log_scale, fmt)
    notes = []
    if bound is not None and any(bool(b) for r in bound for b in r):
        notes.append(f"* {at_bound_note}")
    if any(bool(u) for u in unconv):
        notes.append(f"† {unconverged_note}")
    if any(math.isnan(v) for r in rows for v in r):
        notes.append("grey: not a number")
    parts = [
        f'<div class="mi-explain" style="font-family:{_FONT};background:#ffffff;color:#111111;padding:10px;'
        f'max-width:100%;overflow-x:auto">',
        f'<div class="mi-title" style="font-size:16px;font-weight:700;margin-bottom:2px">'
        f"{html.escape(heading or 'mi_explain')}</div>",
        f'<div style="font-size:13px;color:#333333;margin-bottom:6px">{html.escape(value_name)}{html.escape(unit_txt)}'
        f" per layer (rows) and word; {'smaller' if important == 'small' else 'larger'} = more important, "
        f"drawn darker</div>",
    ]
    if text:
        parts.append(f'<div class="mi-text" style="font-size:13px;color:#333333;margin-bottom:6px">text: '
                     f"{html.escape(str(text))}</div>")
    parts.append(f'<table style="border-collapse:collapse">{"".join(body_rows)}</table>')
    parts.append(legend)
    if notes:
        parts.append(f'<div style="font-size:12px;color:#333333;margin-top:4px">{html.escape("; ".join(notes))}</div>')
    parts.append("</div>")
    fragment = "".join(parts)
    if not full_page:
        return fragment
    title = "mi_explain" + (f": {heading}" if heading else "")
    return page(fragment, title)


def _legend(value_name: str, unit: str, important: str, lo: float, hi: float, log_scale: bool, fmt: str) -> str:
    if math.isnan(lo):
        return ""
    ticks = 5
    swatches = []
    for k in range(ticks):
        t = k / (ticks - 1)  # importance
        u = t if important == "large" else 1 - t
        if log_scale:
            v = math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))
        else:
            v = lo + u * (hi - lo)
        bg = ramp(t)
        swatches.append(f'<span style="display:inline-block;background:{_hex(bg)};color:{_hex(text_colour(bg))};'
                        f'padding:1px 6px;font-size:11px;min-width:3em;text-align:center">{_fmt(v, fmt)}</span>')
    name = html.escape(value_name + (f" ({unit})" if unit else "") + (", log scale" if log_scale else ""))
    return (f'<div class="mi-legend" style="font-size:12px;margin-top:6px">{name}: less important '
            f'{"".join(swatches)} more important</div>')


def page(fragment: str, title: str) -> str:
    """Wrap HTML fragment(s) in a standalone UTF-8 document with ``title``."""
    return ('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(title)}</title>\n"
            "<style>body{margin:16px;background:#ffffff;color:#111111}</style>\n"
            f"</head>\n<body>\n{fragment}\n</body>\n</html>\n")


# ------------------------------------------------------------------------------ Explanation → render()

_INFORMATION_VIEWS: dict[str, dict[str, Any]] = {
    "sigma": {"value_name": "σ", "unit": "embedding units", "important": "small", "log_scale": True, "fmt": "#.3g"},
    "information": {"value_name": "information", "unit": "nats/dim", "important": "large", "log_scale": False,
                    "fmt": ".2f"},
    "entropy": {"value_name": "H(X̃|s)", "unit": "nats", "important": "small", "log_scale": False, "fmt": ".0f"},
}


def explanation_html(e: Any, value: str | None = None, full_page: bool = True) -> str:
    """HTML of a result: an Explanation (``value``: "sigma", "information" or "entropy"; default
    "information") or a baseline's SaliencyExplanation (value "scores"; "saliency" is accepted too)."""
    method = str(getattr(e, "method", None) or e.options.get("method", "information"))
    if method == "information":
        value = value or "information"
        if value not in _INFORMATION_VIEWS:
            raise ValueError(f"unknown value {value!r}; valid values: {', '.join(_INFORMATION_VIEWS)}")
        view = dict(_INFORMATION_VIEWS[value])
        at_bound, note = e.at_bound, "σ at its upper bound: the layer discards the word"
        unconverged_note = "not converged (standard error of log σ above tol)"
    else:
        value = "scores" if value in (None, "saliency") else value
        label = e.options.get("saliency_label") or "score"
        view = {"value_name": str(label), "unit": "", "important": "large", "log_scale": False, "fmt": ".2g"}
        at_bound, note, unconverged_note = getattr(e, "at_bound", None), "at the bound", "not converged"
    return render(
        e.words, e.layers, e.values(value), at_bound=at_bound, at_bound_note=note,
        unconverged=[not bool(c) for c in e.converged.tolist()], unconverged_note=unconverged_note,
        separators=e.separators(), model=str(e.options.get("model") or "") or None, method=method,
        target=str(e.target), text=e.text, full_page=full_page, **view)
