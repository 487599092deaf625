"""``fleet stats``: the kiosks' service analytics per device and fleet-wide, as text, JSON, CSV and a PNG chart.

Rates are computed from summed counts, never by averaging percentages, so a busy kiosk weighs more than a
quiet one. Each daily report names its top intents and out-of-scope questions only, so totals over several
days or devices rank what was frequent somewhere; a question asked once a day everywhere may be missing.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from kiosk_link.wire import AnalyticsV1

FLEET = "(fleet)"  # the summary row over every device
TOP = 10


@dataclass
class ServiceSummary:
    """Sums of the daily reports of one device (or of the fleet) over the period asked for."""

    device_id: str
    days: set[date] = field(default_factory=set)
    conversations: int = 0
    resolved: int = 0
    handoffs: int = 0
    ratings: list[int] = field(default_factory=lambda: [0] * 5)
    intents: Counter[str] = field(default_factory=Counter)
    out_of_scope: Counter[str] = field(default_factory=Counter)

    def add(self, report: AnalyticsV1) -> None:
        self.add_record(report.model_dump(mode="json"))

    def add_record(self, record: Mapping[str, Any]) -> None:
        """Add one daily report as stored (``AnalyticsV1`` as JSON, checked when it arrived): the console's
        dashboard sums thousands of them, where validating each again would cost more than the page may."""
        self.days.add(date.fromisoformat(record["day"]))
        self.conversations += record["conversations"]
        self.resolved += record["resolved"]
        self.handoffs += record["handoffs"]
        self.ratings = [a + b for a, b in zip(self.ratings, record["ratings"], strict=True)]
        self.intents.update({item["name"]: item["count"] for item in record["top_intents"]})
        self.out_of_scope.update({item["name"]: item["count"] for item in record["out_of_scope"]})

    def to_dict(self) -> dict[str, Any]:
        return {
            "device_id": self.device_id,
            "days": len(self.days),
            "conversations": self.conversations,
            "resolved": self.resolved,
            "handoffs": self.handoffs,
            "resolution_rate": _rate(self.resolved, self.conversations),
            "handoff_rate": _rate(self.handoffs, self.conversations),
            "ratings": self.ratings,
            "mean_rating": mean_rating(self.ratings),
            "top_intents": [{"name": n, "count": c} for n, c in self.intents.most_common(TOP)],
            "out_of_scope": [{"name": n, "count": c} for n, c in self.out_of_scope.most_common(TOP)],
        }


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def mean_rating(ratings: Sequence[int]) -> float | None:
    """The mean of 1-5 star ratings given as counts per star; None without any rating."""
    total = sum(ratings)
    return round(sum(stars * n for stars, n in enumerate(ratings, start=1)) / total, 2) if total else None


def summarise(reports: Iterable[tuple[str, AnalyticsV1]]) -> list[ServiceSummary]:
    """One summary per device (sorted), then the fleet's."""
    devices: dict[str, ServiceSummary] = {}
    fleet = ServiceSummary(FLEET)
    for device_id, report in reports:
        devices.setdefault(device_id, ServiceSummary(device_id)).add(report)
        fleet.add(report)
    return [*(devices[d] for d in sorted(devices)), fleet]


def text_lines(summaries: Sequence[ServiceSummary]) -> list[str]:
    """For people: one line per device and the fleet, then the fleet's top intents and unanswered questions."""
    lines = []
    for summary in summaries:
        row = summary.to_dict()
        lines.append(
            f"{row['device_id']:<20} days {row['days']:<3} conversations {row['conversations']:<6}"
            f" resolved {_percent(row['resolution_rate'])} hand-off {_percent(row['handoff_rate'])}"
            f" rating {row['mean_rating'] or '-'} ({sum(row['ratings'])})"
        )
    fleet = summaries[-1]
    for title, counter in (("top intents", fleet.intents), ("out-of-scope questions", fleet.out_of_scope)):
        lines.append(f"{title}:")
        lines += [f"  {count:>5}  {name}" for name, count in counter.most_common(TOP)] or ["  none"]
    return lines


def _percent(rate: float | None) -> str:
    return "   -" if rate is None else f"{rate:>4.0%}"


CSV_COLUMNS = ("device_id", "day", "conversations", "resolved", "handoffs", "resolution_rate", "handoff_rate")


def write_csv(reports: Sequence[tuple[str, AnalyticsV1]], path: Path) -> None:
    """One row per device and day (spreadsheets chart from these), with the rating counts per star."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*CSV_COLUMNS, *(f"ratings_{stars}" for stars in range(1, 6)), "mean_rating"])
        for device_id, r in reports:
            writer.writerow(
                [
                    device_id,
                    r.day.isoformat(),
                    r.conversations,
                    r.resolved,
                    r.handoffs,
                    _rate(r.resolved, r.conversations),
                    _rate(r.handoffs, r.conversations),
                    *r.ratings,
                    mean_rating(r.ratings),
                ]
            )


def write_png(reports: Sequence[tuple[str, AnalyticsV1]], path: Path) -> None:
    """Conversations per day, stacked by device, over the fleet's resolution and hand-off rates per day.

    matplotlib (the ``fleet`` extra) is imported here, so the backend runs without it until a chart is asked for.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    days = sorted({r.day for _, r in reports})
    devices = sorted({d for d, _ in reports})
    per_day = {day: ServiceSummary(FLEET) for day in days}
    counts = {device: dict.fromkeys(days, 0) for device in devices}
    for device_id, report in reports:
        per_day[report.day].add(report)
        counts[device_id][report.day] += report.conversations
    figure, (volume, rates) = plt.subplots(2, 1, figsize=(9, 6), sharex=True, constrained_layout=True)
    bottom = [0] * len(days)
    for device in devices:
        heights = [counts[device][day] for day in days]
        volume.bar(days, heights, bottom=bottom, label=device)
        bottom = [a + b for a, b in zip(bottom, heights, strict=True)]
    volume.set_ylabel("conversations")
    volume.set_title("Service analytics")
    if devices:
        volume.legend(fontsize="small")
    for name, label in (("resolution_rate", "resolved"), ("handoff_rate", "handed off")):
        values = [per_day[day].to_dict()[name] for day in days]
        rates.plot(days, [float("nan") if v is None else v for v in values], marker="o", label=label)
    rates.set_ylim(0, 1)
    rates.set_ylabel("share of conversations")
    rates.legend(fontsize="small")
    figure.autofmt_xdate()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def since_day(text: str, today: date) -> date:
    """``--since``: a date (2026-11-01) or a number of days back including today (``7d``)."""
    if text.endswith("d") and text[:-1].isdigit():
        return date.fromordinal(today.toordinal() - max(0, int(text[:-1]) - 1))
    return date.fromisoformat(text)
