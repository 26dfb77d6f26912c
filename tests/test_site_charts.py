"""The platform pages' stacked bars are written by audit/site/charts.py (Stacks.svg) instead of
a Jinja2 macro looping over every bar (a chart of 100 runs has thousands of bars, and the
macro was most of an incremental build's time): the bytes are the macro's, hostile labels
escaped the same way, and the English chart is the same geometry with English labels."""

from __future__ import annotations

from audit.site import charts
from audit.site.render import environment

# The macro the platform pages used before (templates/_macros.html.j2, commit 6d9bdc0),
# with the bar titles as the chart makes them: the reference for Stacks.svg.
MACRO = """{% macro stacks(s, label, names) -%}
<figure class="chart">
<svg xmlns="http://www.w3.org/2000/svg" width="{{ s.width }}" height="{{ s.height }}" viewBox="0 0 {{ s.width }} {{ s.height }}" role="img" aria-label="{{ label }}">
<title>{{ label }}</title>
{% for strip in s.strips %}
<text x="144" y="{{ strip.y + 4 }}" text-anchor="end" class="axis">{{ strip.label }}</text>
{% for b in strip.bars %}<rect x="{{ b.x }}" y="{{ b.y }}" width="{{ s.bar }}" height="{{ b.height }}" fill="{{ b.fill }}"><title>{{ b.run_id ~ ': ' ~ names.get(b.outcome, b.outcome) ~ ' ' ~ b.n ~ '/' ~ b.total }}</title></rect>{% endfor %}
{% endfor %}
{% for x, short, title in s.runs %}
<text transform="translate({{ x - 2 }},{{ s.height - 72 }}) rotate(60)" class="axis small"><title>{{ title }}</title>{{ short }}</text>
{% endfor %}
</svg>
</figure>
{%- endmacro %}{{ stacks(s, label, s.outcome_label) }}"""

HOSTILE = '<script>alert("x")</script>&'


def test_the_bars_are_the_macros_bytes_with_hostile_labels_escaped() -> None:
    runs = [(f"run-{i}", f"01-{i:02d}") for i in range(30)] + [(HOSTILE, "x<y")]
    surfaces = [("im_group", "群聊"), ("post", HOSTILE)]
    counts = {(run, surface): {"direct": i % 5 + 1, "blocked": i % 3, "copy_only": 1,
                               "error": i % 2}
              for i, (run, _short) in enumerate(runs) for surface, _label in surfaces}
    zh = charts.stacks(runs, surfaces, counts, {"direct": "直达", "blocked": HOSTILE})
    en = zh.relabelled(["Group chats", "Posts"], {"direct": "Direct", "blocked": "Blocked"})
    template = environment().from_string(MACRO)
    for chart, label in ((zh, HOSTILE), (en, "Outcomes over the runs")):
        svg = str(chart.svg(label))
        assert svg == template.render(s=chart, label=label)
        assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert [s.bars for s in zh.strips] == [s.bars for s in en.strips]  # one geometry
    assert "Group chats" in str(en.svg("t")) and "群聊" not in str(en.svg("t"))
