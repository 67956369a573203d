"""Filling the Patient page's form in a real browser, as a clinician does: by each field's label.

Numbers are typed into their fields, yes/no answers clicked, scales chosen from their lists; None empties a field
("Not recorded"). The browser tests and the benchmarks share it.
"""

from __future__ import annotations

import time

from playwright.sync_api import TimeoutError as PlaywrightTimeout

from recovery_model.schema import Feature, Schema

NOT_RECORDED = "Not recorded"
CHOOSE_BUDGET_S = 120.0


def _level(feature: Feature, value: int) -> str:
    return f"{value}: {feature.levels[value]}" if value in feature.levels else str(value)


def steps(values: dict[str, float | None], schema: Schema) -> list[tuple[str, str, str]]:
    """(kind, label, text) for each value: 'type' a number, 'click' a radio option, 'choose' a list option."""
    out = []
    for name, value in values.items():
        feature = schema.feature(name)
        if feature.is_binary:
            text = NOT_RECORDED if value is None else feature.levels[int(value)].capitalize()
            out.append(("click", feature.label, text))
        elif feature.levels:
            out.append(("choose", feature.label, NOT_RECORDED if value is None else _level(feature, int(value))))
        else:
            text = "" if value is None else (str(int(value)) if feature.is_integer else f"{value:.{feature.decimals}f}")
            out.append(("type", feature.label, text))
    return out


def fill(page, values: dict[str, float | None], schema: Schema) -> None:
    """Playwright (sync): type, click and choose each value into the form."""
    for kind, label, text in steps(values, schema):
        if kind == "type":
            box = page.get_by_role("spinbutton", name=label, exact=False).first
            box.fill(text)
            box.press("Tab")
        elif kind == "click":
            page.get_by_role("radiogroup", name=label).first.get_by_text(text, exact=True).click()
        else:
            _choose(page, label, text)


def _choose(page, label: str, text: str) -> None:
    """Open the list and pick the option; again if a rerun closed the list before the option was drawn.

    Each typed number reruns the page (the form is live). On a loaded machine that rerun can finish after the list
    opened and redraw the field with its list closed, so the option never appears; a person opens it again.
    """
    deadline = time.monotonic() + CHOOSE_BUDGET_S
    option = page.get_by_role("option", name=text, exact=True)
    while True:
        page.get_by_role("combobox", name=label).first.click()
        try:
            option.click(timeout=10_000)
            return
        except PlaywrightTimeout:
            if time.monotonic() > deadline:
                raise
            page.keyboard.press("Escape")
