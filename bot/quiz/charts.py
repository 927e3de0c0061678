"""Charts for admins (matplotlib, Chinese labels in the project's CJK font): the score distribution and the
pass rate per employer. No pyplot: figures are drawn off any global state, so threads may draw at once."""

from __future__ import annotations

import io

from bot.quiz.fonts import matplotlib_font


def _figure(width: float = 7.0, height: float = 4.0):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def _png(figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    out = io.BytesIO()
    FigureCanvasAgg(figure).print_png(out)
    return out.getvalue()


def score_distribution_png(scores: list[int], pass_mark: int, title: str = "成绩分布") -> bytes:
    """Attempts per ten-point band, the pass mark marked."""
    font = matplotlib_font()
    figure = _figure()
    axes = figure.add_subplot()
    bins = [0] * 10
    for score in scores:
        bins[min(9, max(0, int(score) // 10))] += 1
    labels = [f"{i * 10}–{i * 10 + 9}" if i < 9 else "90–100" for i in range(10)]
    colours = ["#c0504d" if (i + 1) * 10 <= pass_mark else "#4f81bd" for i in range(10)]
    bars = axes.bar(range(10), bins, color=colours)
    axes.bar_label(bars, labels=[str(b) if b else "" for b in bins], fontproperties=font)
    axes.set_xticks(range(10), labels, fontproperties=font, rotation=30)
    from matplotlib.ticker import MaxNLocator

    axes.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts of attempts
    axes.set_xlabel("得分", fontproperties=font)
    axes.set_ylabel("测验次数", fontproperties=font)
    passed = sum(1 for s in scores if s >= pass_mark)
    rate = f"，合格率 {passed / len(scores):.0%}" if scores else ""
    axes.set_title(f"{title}（共 {len(scores)} 次，{pass_mark} 分合格{rate}）", fontproperties=font)
    return _png(figure)


def employer_pass_rate_png(rows: list[dict], title: str = "各单位合格率") -> bytes:
    """Horizontal bars: pass rate per employer (``rows`` from export.employer_summary), busiest first."""
    font = matplotlib_font()
    rows = sorted(rows, key=lambda r: (-r["participants"], r["employer"]))[:20]
    figure = _figure(7.0, max(2.5, 0.45 * len(rows) + 1.2))
    axes = figure.add_subplot()
    names = [f"{r['employer'] or '未填单位'}（{r['participants']} 人）" for r in rows][::-1]
    rates = [100 * r["pass_rate"] for r in rows][::-1]
    bars = axes.barh(range(len(rows)), rates, color="#4f81bd")
    axes.bar_label(bars, labels=[f"{v:.0f}%" for v in rates], fontproperties=font, padding=2)
    axes.set_yticks(range(len(rows)), names, fontproperties=font)
    axes.set_xlim(0, 110)
    axes.set_xlabel("合格率（%）", fontproperties=font)
    axes.set_title(title if rows else f"{title}（暂无记录）", fontproperties=font)
    return _png(figure)
