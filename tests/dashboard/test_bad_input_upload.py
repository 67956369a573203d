"""The bad-input corpus through the Ward page's upload, as a bed manager would meet it."""

import pytest

from tests.bad_input_corpus import CORPUS, FHIR_CORPUS, FileRefused
from tests.dashboard.test_pages import open_page


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CORPUS])
def test_upload(case):
    app = open_page("ward")
    app.file_uploader[0].upload("ward.csv", case.content, "text/csv").run()
    assert not app.exception, [e.value for e in app.exception]
    if isinstance(case.expect, FileRefused):
        assert app.error and case.expect.says in app.error[0].value
        return
    counts = {m.label: m.value for m in app.metric}
    assert counts["Rows in the file"] == str(case.expect.rows)
    assert counts["Scored"] == str(case.expect.scored)
    assert counts["Rejected"] == str(len(case.expect.rejected))
    if case.expect.rejected:
        rejected = next(d.value for d in app.dataframe if "problems" in d.value.columns)
        assert list(rejected["row"]) == sorted(case.expect.rejected)
        for row, phrase in case.expect.rejected.items():
            assert phrase in rejected.set_index("row").loc[row, "problems"]
        assert any(b.label == "Download rejected rows" for b in app.get("download_button"))
    if case.expect.warning:
        assert any(case.expect.warning in w.value for w in app.warning)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in FHIR_CORPUS])
def test_fhir_upload(case):
    app = open_page("ward")
    app.file_uploader[0].upload(case.filename, case.content, "application/fhir+json").run()
    assert not app.exception, [e.value for e in app.exception]
    if isinstance(case.expect, FileRefused):
        assert app.error and case.expect.says in app.error[0].value
        return
    counts = {m.label: m.value for m in app.metric}
    assert (counts["Scored"], counts["Rejected"]) == (str(case.expect.scored), str(len(case.expect.rejected)))
    notes = " ".join(m.value for m in app.markdown)
    assert case.note in notes
