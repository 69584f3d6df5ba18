"""Inline SVG bar charts for the digest page: no script, no font or file to fetch.

Each chart is an ``<svg role="img">`` labelled by its own ``<title>`` and ``<desc>`` (the
numbers in words, for screen readers), with a ``<title>`` on every bar (a tooltip), and
scales to its container (``viewBox``, width 100 %).
"""

from __future__ import annotations

import html
from typing import Sequence


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def bar_chart(
    chart_id: str,
    values: Sequence[int],
    labels: Sequence[str],
    title: str,
    *,
    width: int = 320,
    height: int = 120,
    previous_mean: float | None = None,
) -> str:
    """Bars of ``values`` over ``labels`` (x axis); a dashed line at ``previous_mean`` (the
    previous period's mean per day) when above 0. ``chart_id`` must be unique in the page."""
    if len(values) != len(labels):
        raise ValueError("one label per value")
    top_pad, bottom_pad, left_pad = 14, 18, 4
    plot_h = height - top_pad - bottom_pad
    peak = max([*values, previous_mean or 0, 1])
    slot = (width - left_pad) / max(1, len(values))
    bar_w = max(1.0, slot * 0.7)
    desc = ", ".join(f"{label}: {value}" for label, value in zip(labels, values))
    if previous_mean is not None:
        desc += f"; previous period mean {previous_mean:.1f} per day"
    parts = [
        f'<svg class="chart" id="{_e(chart_id)}" role="img" aria-labelledby="{_e(chart_id)}-t {_e(chart_id)}-d" '
        f'viewBox="0 0 {width} {height}" preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{_e(chart_id)}-t">{_e(title)}</title>',
        f'<desc id="{_e(chart_id)}-d">{_e(desc)}</desc>',
        f'<line class="axis" x1="{left_pad}" y1="{top_pad + plot_h}" x2="{width}" y2="{top_pad + plot_h}"/>',
    ]
    for i, (value, label) in enumerate(zip(values, labels)):
        h = plot_h * value / peak
        x = left_pad + i * slot + (slot - bar_w) / 2
        y = top_pad + plot_h - h
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}">'
            f"<title>{_e(label)}: {value}</title></rect>"
        )
        if value:
            parts.append(f'<text class="val" x="{x + bar_w / 2:.1f}" y="{y - 2:.1f}" text-anchor="middle">{value}</text>')
        parts.append(
            f'<text class="lbl" x="{x + bar_w / 2:.1f}" y="{height - 4}" text-anchor="middle">{_e(label)}</text>'
        )
    if previous_mean:  # no line for a previous period without articles
        y = top_pad + plot_h - plot_h * previous_mean / peak
        parts.append(f'<line class="prev" x1="{left_pad}" y1="{y:.1f}" x2="{width}" y2="{y:.1f}"/>')
    parts.append("</svg>")
    return "".join(parts)
