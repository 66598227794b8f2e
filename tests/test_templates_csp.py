"""Pages that a Content-Security-Policy of scripts and styles from 'self' leaves working: no template
holds an inline script, an inline event handler or a style attribute (page data travels in
``json_script`` blocks, styles in static/css, behaviour in static/js)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

TEMPLATES = sorted((Path(__file__).resolve().parent.parent / "templates").rglob("*.html"))


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda path: path.name)
def test_a_template_has_no_inline_script_handler_or_style(template: Path):
    text = template.read_text()
    inline_scripts = [tag for tag in re.findall(r"<script\b[^>]*>", text) if "src=" not in tag]
    assert inline_scripts == []
    assert re.findall(r"\son[a-z]+\s*=", text) == []
    assert re.findall(r"\sstyle\s*=", text) == []


def test_the_templates_are_found():
    assert len(TEMPLATES) > 10
