"""Inline SVG charts for the HTML report (no external assets: the page works offline).

- ``section_bars``: per spec section, one bar split by verdict category, so it shows at a
  glance where the failures sit;
- ``history_strip``: a backend's runs over time, pass rate as a line and the cases against
  conformance as bars;
- ``duration_histogram``: how case durations spread (log-spaced bins), where the time goes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from html import escape

from azihsm_conformance.harness import verdicts

COLORS = {
    verdicts.PASS: "#3a9b53",
    verdicts.FAIL: "#d64545",
    verdicts.INCONCLUSIVE: "#b04aa2",
    verdicts.FIXED_DEVIATION: "#e07b2e",
    verdicts.DEVIATION: "#e3c04b",
    verdicts.INFO: "#5b8fc9",
    verdicts.NOT_APPLICABLE: "#c8c8c8",
}
FONT = "font-family='system-ui,sans-serif' font-size='11'"


def _e(value) -> str:
    return escape(str(value), quote=True)


def legend(x: int, y: int) -> str:
    parts, offset = [], x
    for category in verdicts.CATEGORIES:
        label = verdicts.LABELS[category]
        parts.append(
            f"<rect x='{offset}' y='{y}' width='10' height='10' fill='{COLORS[category]}'/>"
            f"<text x='{offset + 14}' y='{y + 9}' {FONT}>{_e(label)}</text>"
        )
        offset += 22 + 6 * len(label)
    return "".join(parts)


def section_bars(sections: dict[str, Counter], title: str) -> str:
    """SECTIONS: spec section -> category -> cases. One 100 % bar per section."""
    if not sections:
        return ""
    label_width, bar_width, row = 230, 420, 20
    height = row * len(sections) + 46
    parts = [
        f"<svg class='chart sections' role='img' aria-label='{_e(title)}' xmlns='http://www.w3.org/2000/svg' "
        f"width='{label_width + bar_width + 60}' height='{height}'><title>{_e(title)}</title>"
    ]
    for index, (section, counts) in enumerate(sections.items()):
        y = 8 + index * row
        total = sum(counts.values()) or 1
        parts.append(f"<text x='{label_width - 6}' y='{y + 12}' text-anchor='end' {FONT}>{_e(section[:38])}</text>")
        x = float(label_width)
        for category in verdicts.CATEGORIES:
            if not counts.get(category):
                continue
            width = bar_width * counts[category] / total
            parts.append(
                f"<rect class='segment {category}' x='{x:.1f}' y='{y}' width='{width:.1f}' height='{row - 5}' "
                f"fill='{COLORS[category]}'><title>{_e(section)}: {counts[category]} {_e(verdicts.LABELS[category])}"
                f"</title></rect>"
            )
            x += width
        parts.append(f"<text x='{label_width + bar_width + 6}' y='{y + 12}' {FONT}>{total}</text>")
    parts.append(legend(10, height - 24))
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True)
class HistoryPoint:
    run_id: str
    started_at: str
    pass_rate: float  # passed / (cases that apply)
    against: int  # cases counting against conformance


def history_strip(points: list[HistoryPoint], title: str) -> str:
    """Pass rate (line, left axis 0-100 %) and cases against conformance (bars) per run."""
    if not points:
        return ""
    width, height, left, bottom = 520, 110, 36, 22
    step = (width - left - 10) / max(len(points), 1)
    bar_width = min(step / 2, 24)
    most = max(point.against for point in points) or 1
    plot = height - bottom - 8
    parts = [
        f"<svg class='chart history' role='img' aria-label='{_e(title)}' xmlns='http://www.w3.org/2000/svg' "
        f"width='{width}' height='{height}'><title>{_e(title)}</title>",
        f"<line x1='{left}' y1='8' x2='{left}' y2='{8 + plot}' stroke='#999'/>",
        f"<text x='{left - 4}' y='14' text-anchor='end' {FONT}>100%</text>",
        f"<text x='{left - 4}' y='{8 + plot}' text-anchor='end' {FONT}>0%</text>",
    ]
    line = []
    for index, point in enumerate(points):
        x = left + step * index + step / 2
        bar = plot * point.against / most if point.against else 0
        if bar:
            parts.append(
                f"<rect class='against' x='{x - bar_width / 2:.1f}' y='{8 + plot - bar:.1f}' width='{bar_width:.1f}' "
                f"height='{bar:.1f}' fill='{COLORS[verdicts.FAIL]}' opacity='0.7'><title>{_e(point.run_id)}: "
                f"{point.against} against conformance</title></rect>"
            )
        y = 8 + plot * (1 - point.pass_rate)
        line.append(f"{x:.1f},{y:.1f}")
        parts.append(
            f"<circle class='run' cx='{x:.1f}' cy='{y:.1f}' r='3' fill='{COLORS[verdicts.PASS]}'><title>"
            f"{_e(point.run_id)} ({_e(point.started_at[:16])}): {point.pass_rate:.0%} pass, {point.against} against"
            f"</title></circle>"
        )
    if len(line) > 1:
        parts.insert(
            5, f"<polyline points='{' '.join(line)}' fill='none' stroke='{COLORS[verdicts.PASS]}' stroke-width='1.5'/>"
        )
    parts.append(f"<text x='{left}' y='{height - 6}' {FONT}>{_e(points[0].started_at[:10])}</text>")
    parts.append(
        f"<text x='{width - 10}' y='{height - 6}' text-anchor='end' {FONT}>{_e(points[-1].started_at[:10])} "
        f"({len(points)} run{'s' if len(points) != 1 else ''})</text>"
    )
    parts.append("</svg>")
    return "".join(parts)


# log-spaced duration bins (seconds), the last open-ended
BINS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 30)


def duration_histogram(durations: list[float], title: str) -> str:
    if not durations:
        return ""
    counts = [0] * (len(BINS) + 1)
    for duration in durations:
        counts[next((i for i, edge in enumerate(BINS) if duration < edge), len(BINS))] += 1
    labels = [f"<{BINS[0]:g}s"] + [f"{low:g}–{high:g}s" for low, high in zip(BINS, BINS[1:])] + [f"≥{BINS[-1]:g}s"]
    width, height, left, bottom = 520, 130, 30, 34
    step = (width - left - 10) / len(counts)
    most = max(counts) or 1
    plot = height - bottom - 10
    parts = [
        f"<svg class='chart durations' role='img' aria-label='{_e(title)}' xmlns='http://www.w3.org/2000/svg' "
        f"width='{width}' height='{height}'><title>{_e(title)}</title>"
    ]
    for index, (label, count) in enumerate(zip(labels, counts)):
        x = left + index * step
        bar = plot * count / most
        parts.append(
            f"<rect class='bin' x='{x + 3:.1f}' y='{10 + plot - bar:.1f}' width='{step - 6:.1f}' height='{bar:.1f}' "
            f"fill='{COLORS[verdicts.INFO]}'><title>{_e(label)}: {count} cases</title></rect>"
        )
        if count:
            parts.append(
                f"<text x='{x + step / 2:.1f}' y='{8 + plot - bar:.1f}' text-anchor='middle' {FONT}>{count}</text>"
            )
        parts.append(f"<text x='{x + step / 2:.1f}' y='{height - 20}' text-anchor='middle' {FONT}>{_e(label)}</text>")
    parts.append(
        f"<text x='{left}' y='{height - 4}' {FONT}>{len(durations)} cases, {sum(durations):.0f} s in all "
        f"(summed over workers)</text></svg>"
    )
    return "".join(parts)
