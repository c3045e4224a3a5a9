"""The HTML view: self-contained, readable (WCAG AA contrast, values without hovering), and checked in a real
headless browser (Chromium), not only as a string."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import torch
from test_results import make, make_pair

from mi_explain.html import contrast_ratio, ramp, render, text_colour
from mi_explain.results import SaliencyExplanation

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
BROWSER = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)

_CHIP = re.compile(r'class="mi-chip"[^>]*style="[^"]*background:(#[0-9a-f]{6});color:(#[0-9a-f]{6})')


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def test_every_shade_of_the_ramp_passes_wcag_aa():
    for k in range(201):
        bg = ramp(k / 200)
        assert contrast_ratio(text_colour(bg), bg) >= 4.5, (k, bg)
    # the formula: black on white is 21:1, identical colours 1:1
    assert contrast_ratio((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0)
    assert contrast_ratio((120, 120, 120), (120, 120, 120)) == pytest.approx(1.0)
    assert ramp(0.0) != ramp(1.0) and sum(ramp(0.0)) > sum(ramp(1.0))  # 1 = important = darker


def test_page_is_self_contained_and_titled():
    e = make()
    out = e.to_html("sigma")
    assert out.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in out
    assert "<title>mi_explain: tiny · information · target tokens</title>" in out
    assert not re.search(r"(src|href)\s*=|https?://|<script|<link|@import", out)
    for word in e.words:
        assert f">{word}</span>" in out
    assert ">0.100</span>" in out and ">2.00*</span>" in out  # σ printed under the words; * = at the bound
    assert "layer 1 †" in out  # the unconverged layer
    chips = _CHIP.findall(out)
    assert len(chips) == e.n_layers * e.n_words
    for bg, fg in chips:
        assert contrast_ratio(_rgb(fg), _rgb(bg)) >= 4.5
    # smallest σ is the darkest chip, largest σ the lightest
    lum = {float(v): sum(_rgb(bg)) for v, (bg, _) in zip(e.sigma.reshape(-1).tolist(), chips)}
    assert lum[min(lum)] < lum[max(lum)]


def test_notebook_fragment_has_inline_styles_only():
    frag = make()._repr_html_()
    assert frag.startswith('<div class="mi-explain"') and "<html" not in frag and "<style" not in frag
    assert "background:#ffffff" in frag  # readable in dark notebook themes too


def test_pairs_nan_and_baselines():
    out = make_pair().to_html("sigma")
    assert out.count("‖") >= 3 + 1  # one separator per layer, and in the text line
    nan = make(sigma=torch.tensor([[0.1, float("nan"), 0.3, 0.4], [0.5, 1.5, 0.25, 2.0], [3.0, 0.05, 1.0, 0.75]]))
    assert ">nan</span>" in nan.to_html("sigma") and "grey: not a number" in nan.to_html("sigma")
    base = make().to_dict()
    base["method"], base["scores"] = "lrp", base.pop("sigma")
    base["options"] = {"saliency": "LRP-ε relevance", "saliency_label": "|Σ R| (LRP-ε)", "model": "tiny"}
    r = SaliencyExplanation.from_dict(base)
    assert isinstance(r, SaliencyExplanation)
    s = r.to_html()
    assert "tiny · lrp · target tokens" in s and "|Σ R| (LRP-ε)" in s and "larger = more important" in s


def test_render_checks_the_shape():
    with pytest.raises(ValueError, match=r"values must be \[2 layers, 3 words\]"):
        render(["a", "b", "c"], ["l0", "l1"], [[1, 2, 3]])
    with pytest.raises(ValueError, match="important must be"):
        render(["a"], ["l0"], [[1.0]], important="high")


# ------------------------------------------------------------------------------------------ real browser

_PROBE = """<script>
const chips = [...document.querySelectorAll('.mi-chip')].map(c => {
  const s = getComputedStyle(c), w = c.querySelector('.mi-word'), v = c.querySelector('.mi-value');
  const rw = w.getBoundingClientRect(), rv = v.getBoundingClientRect();
  return {word: w.innerText, value: v.innerText, color: s.color, background: s.backgroundColor,
          width: c.getBoundingClientRect().width, below: rv.top >= rw.bottom - 1};
});
const pre = document.createElement('pre');
pre.id = 'probe';
pre.textContent = JSON.stringify({title: document.title, charset: document.characterSet,
                                  text: document.body.innerText, chips: chips});
document.body.appendChild(pre);
</script>"""


def _browser(args: list[str], tmp_path) -> subprocess.CompletedProcess:  # noqa: ANN001
    cmd = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}",
           "--window-size=900,600", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                          env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})


def _css_rgb(value: str) -> tuple[int, int, int]:
    return tuple(int(float(x)) for x in re.findall(r"[\d.]+", value)[:3])  # type: ignore[return-value]


@pytest.mark.skipif(BROWSER is None, reason="no Chromium/Chrome binary on PATH (apt-get install chromium)")
def test_saved_page_renders_in_a_headless_browser(tmp_path):
    e = make_pair()
    page = tmp_path / "explanation.html"
    page.write_text(e.to_html("sigma"), encoding="utf-8")
    probe = tmp_path / "probe.html"  # the saved file has no script; a copy gets the probe
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", _PROBE + "</body>"), encoding="utf-8")
    res = _browser(["--dump-dom", probe.as_uri()], tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    found = re.search(r'<pre id="probe">(.*?)</pre>', res.stdout, re.S)
    assert found, res.stdout[-2000:]
    import html as std_html

    data = json.loads(std_html.unescape(found.group(1)))
    assert data["title"] == "mi_explain: tiny · information · target tokens"
    assert data["charset"] == "UTF-8"
    assert "σ (embedding units) per layer" in data["text"] and "a cat ‖ it sleeps" in data["text"]
    chips = data["chips"]
    assert [c["word"] for c in chips] == e.words * e.n_layers
    expected = [format(v, "#.3g") for v in e.sigma.reshape(-1).tolist()]
    assert [c["value"] for c in chips] == expected  # visible text, not a tooltip
    for c in chips:
        assert c["width"] > 10 and c["below"], c  # laid out, the number under the word
        assert contrast_ratio(_css_rgb(c["color"]), _css_rgb(c["background"])) >= 4.5, c
    for v in expected:
        assert v in data["text"]

    shot = tmp_path / "page.png"
    res = _browser([f"--screenshot={shot}", page.as_uri()], tmp_path)
    assert res.returncode == 0 and shot.stat().st_size > 5000, res.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
