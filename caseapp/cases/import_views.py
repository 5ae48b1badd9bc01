"""Import of existing case files from a spreadsheet: the upload page, the templates, the report.

The error report holds row numbers, column headers and messages only, yet it is never kept on the
server or in the session cookie (which the browser can read): the upload form has a second submit
button, "Tải báo cáo lỗi (CSV)", which re-sends the chosen file; the file is checked again and the
report comes back as a download, with nothing stored. Checking 2,000 rows again costs about as much
as a page of the case list, and no state outlives the request.
"""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_wtf.file import FileField, FileRequired
from wtforms import SubmitField

from caseapp import authz, web
from caseapp.cases import importer, queries
from caseapp.extensions import db
from caseapp.forms import Form

bp = Blueprint("imports", __name__, url_prefix="/cases/import")

# The page lists the first problems; the downloadable report has them all.
SHOWN_PROBLEMS = 200
FLAGGED_ROWS_SHOWN = 30
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ImportForm(Form):
    """The upload form (kept beside its only view: the case form module is another feature's)."""

    file = FileField(
        _l("Tệp cần nhập (.xlsx hoặc .csv)"),
        validators=[FileRequired(_l("Chọn tệp cần nhập."))],
        description=_l("Tối đa 5 MB và 2.000 dòng; dòng tiêu đề theo tệp mẫu."),
    )
    submit = SubmitField(_l("Kiểm tra và nhập"))
    check = SubmitField(_l("Chỉ kiểm tra, chưa nhập"))
    report = SubmitField(_l("Tải báo cáo lỗi (CSV)"))


def _download(content: bytes, filename: str, mimetype: str) -> Response:
    return Response(
        content,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.route("", methods=("GET", "POST"))
@authz.requires(authz.Action.EDIT_CASES)
def upload() -> ResponseReturnValue:
    form = ImportForm()
    checked = None
    if form.validate_on_submit():
        user = web.actor()
        mode = "report" if form.report.data else "check" if form.check.data else "import"
        storage = form.file.data
        try:
            content = storage.stream.read(importer.MAX_BYTES + 1)
        finally:
            storage.close()  # a large upload is spooled to a temporary file: release it now
        checked = importer.check_file(
            storage.filename or "", content, actor=user, today=web.today()
        )
        if mode == "import" and checked.ok:
            imported = importer.import_cases(checked, actor=user, context=web.audit_context())
            importer.record_attempt(
                mode, checked, imported, actor=user, context=web.audit_context()
            )
            db.session.commit()
            _flash_imported(imported)
            return redirect(url_for("imports.upload"))
        # Checking reads only; nothing of the file is kept. Nor does it look for other communes'
        # files of the same people: a dry run would tell who has a file without creating one.
        db.session.rollback()
        importer.record_attempt(mode, checked, None, actor=user, context=web.audit_context())
        db.session.commit()
        if mode == "report" and checked.problems:
            return _download(
                importer.error_report_csv(checked.problems),
                "bao-cao-loi-nhap-ho-so.csv",
                "text/csv; charset=utf-8",
            )
        if checked.problems:
            form.file.errors = [*form.file.errors, _summary(checked)]
    return render_template(
        "cases/import.html",
        form=form,
        checked=checked,
        shown=checked.problems[:SHOWN_PROBLEMS] if checked else [],
        columns=importer.COLUMNS,
        usual_values=importer.usual_values,
        communes=queries.communes_for_choice(web.actor()),
        max_rows=importer.MAX_ROWS,
    )


def _summary(checked: importer.Checked) -> str:
    if checked.rows_in_error:
        return str(
            ngettext(
                "Tệp có %(num)d lỗi ở %(rows)d dòng; chưa có hồ sơ nào được lưu.",
                "Tệp có %(num)d lỗi ở %(rows)d dòng; chưa có hồ sơ nào được lưu.",
                len(checked.problems),
                rows=checked.rows_in_error,
            )
        )
    return str(_("Tệp chưa nhập được; chưa có hồ sơ nào được lưu."))


def _flash_imported(imported: importer.Imported) -> None:
    flash(_("Đã nhập %(n)d hồ sơ từ tệp.", n=imported.count), "success")
    if imported.flagged_rows:
        rows = ", ".join(str(n) for n in imported.flagged_rows[:FLAGGED_ROWS_SHOWN])
        if len(imported.flagged_rows) > FLAGGED_ROWS_SHOWN:
            rows += ", …"
        flash(
            _(
                "%(n)d người có thể đã có hồ sơ (trùng số CCCD, hoặc họ tên và ngày sinh, với một "
                "hồ sơ đã lưu) — dòng %(rows)s. Các hồ sơ này vẫn được nhập và đã được báo để cán "
                "bộ phụ trách xem xét, gộp hoặc bỏ qua.",
                n=len(imported.flagged_rows),
                rows=rows,
            ),
            "warning",
        )


@bp.route("/template.xlsx")
@authz.requires(authz.Action.EDIT_CASES)
def template_xlsx() -> ResponseReturnValue:
    content = importer.template_xlsx(queries.communes_for_choice(web.actor()))
    return _download(content, "mau-nhap-ho-so.xlsx", XLSX_MIMETYPE)


@bp.route("/template.csv")
@authz.requires(authz.Action.EDIT_CASES)
def template_csv() -> ResponseReturnValue:
    return _download(importer.template_csv(), "mau-nhap-ho-so.csv", "text/csv; charset=utf-8")
