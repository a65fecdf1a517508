"""How a stored results payload is shown: rows per metric and test group, tones from the
metric's direction and significance, intervals on a shared scale, the SRM banner, CSV."""

from __future__ import annotations

import csv
import io

from experiments.results import present


def comparison(group, estimate, low, high, *, significant, p=0.01, treatment=1):
    return {
        "group": group,
        "treatment": treatment,
        "control_n": 1000,
        "control_mean": 2.0,
        "treatment_n": 990,
        "treatment_mean": 2.0 * (1 + estimate),
        "absolute": {"estimate": 2.0 * estimate, "interval": [0, 0], "p_value": p},
        "relative": {"estimate": estimate, "interval": [low, high], "p_value": p},
        "p_value": p,
        "adjusted_p_value": None,
        "significant": significant,
        "method": {"sequential": None},
        "cuped": {"applied": True},
        "bayesian": {"chance_to_beat_control": 0.97 if significant else 0.4},
        "message": None,
    }


def metric(name, role, direction, comparisons, message=None):
    return {
        "id": f"{name}::sum",
        "name": name,
        "type": "sum",
        "role": role,
        "direction": direction,
        "comparisons": comparisons,
        "message": message,
    }


PAYLOAD = {
    "metrics": [
        metric(
            "revenue",
            "primary",
            "increase",
            [comparison("Test", 0.05, 0.02, 0.08, significant=True)],
        ),
        metric(
            "latency",
            "secondary",
            "decrease",
            [comparison("Test", 0.04, 0.01, 0.07, significant=True)],
        ),
        metric(
            "clicks",
            "primary",
            "increase",
            [comparison("Test", -0.01, -0.03, 0.01, significant=False, p=0.3)],
        ),
        metric(
            "gone", "guardrail", "increase", [], message="This metric is no longer in the catalog."
        ),
    ],
    "srm": {"verdict": "alert", "p_value": 0.0001},
    "exposures": {
        "groups": [
            {"name": "Control", "units": 5200, "expectedShare": 0.5},
            {"name": "Test", "units": 4800, "expectedShare": 0.5},
        ]
    },
}


def test_sections__by_role_in_order_with_tones_from_direction():
    sections = present.sections(PAYLOAD)

    assert [s.role for s in sections] == ["primary", "secondary", "guardrail"]
    primary, secondary, guardrail = sections
    assert [(r.metric, r.tone) for r in primary.rows] == [
        ("revenue", "good"),
        ("clicks", "neutral"),
    ]
    # Latency up 4% significantly is bad: lower is better.
    assert secondary.rows[0].tone == "bad"
    assert guardrail.rows[0].message == "This metric is no longer in the catalog."
    assert primary.rows[0].cuped is True
    assert [r.chance_to_beat for r in primary.rows] == [0.97, 0.4]


def test_sections__intervals_share_one_scale_centred_on_zero():
    revenue, clicks = present.sections(PAYLOAD)[0].rows

    # The widest reach is 0.08 (revenue's upper bound), with a 10% margin: 0.088 = 50% of
    # the width each side of zero.
    assert revenue.zero == 50.0
    assert revenue.bar_left == round(50 + 50 * 0.02 / 0.088, 2)
    assert revenue.bar_left + revenue.bar_width == round(50 + 50 * 0.08 / 0.088, 2)
    assert clicks.bar_left < 50 < clicks.bar_left + clicks.bar_width
    assert clicks.point == round(50 - 50 * 0.01 / 0.088, 2)


def test_srm_banner__each_group_against_its_share_of_the_split():
    banner = present.srm_banner(PAYLOAD)

    assert banner["verdict"] == "alert"
    assert banner["groups"] == [
        {"name": "Control", "observed": 0.52, "expected": 0.5},
        {"name": "Test", "observed": 0.48, "expected": 0.5},
    ]
    assert present.srm_banner({**PAYLOAD, "srm": {"verdict": "ok"}}) is None


def test_breakdown_tables__rows_per_segment_on_the_metrics_scale__csv_with_the_segment():
    # Given a breakdown by country of one metric, and a metric without the dimension
    breakdown = {
        "breakdown": {"name": "country", "title": "Country", "source": "unit"},
        "metrics": [
            {
                "name": "purchase",
                "type": "sum",
                "role": "primary",
                "direction": "increase",
                "message": None,
                "segments": [
                    {
                        "label": "US",
                        "comparisons": [comparison("Test", 0.4, 0.2, 0.6, significant=True)],
                    },
                    {
                        "label": "Other",
                        "comparisons": [comparison("Test", 0.0, -0.1, 0.1, significant=False)],
                    },
                ],
            },
            {
                "name": "visits",
                "type": "event_count",
                "role": "guardrail",
                "direction": "increase",
                "message": "This metric has no dimension value.",
                "segments": [],
            },
        ],
    }
    # When
    tables = present.breakdown_tables(breakdown)
    rows = list(csv.DictReader(io.StringIO(present.breakdown_csv(breakdown))))
    # Then
    us, other = tables[0].rows
    assert (us.segment, us.tone, other.segment, other.tone) == ("US", "good", "Other", "neutral")
    assert us.bar_left > other.bar_left  # one scale for the metric: US lies right of zero
    assert tables[1].rows == []
    assert tables[1].message == "This metric has no dimension value."
    assert [(r["segment"], r["metric"]) for r in rows] == [
        ("US", "purchase"),
        ("Other", "purchase"),
        ("", "visits"),
    ]
    assert rows[2]["note"] == "This metric has no dimension value."
    assert {r["breakdown"] for r in rows} == {"country"}
