"""Follow-up forms (phone first: an outcome is a tap, a date already filled in, a note)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    EmailField,
    RadioField,
    SelectChoice,
    SelectField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, Optional, Regexp

from caseapp.followups.models import (
    NOTE_MAX,
    OUTCOME_LABELS,
    REASON_LABELS,
    RESCHEDULE_REASONS,
    Kind,
    outcomes_for,
)
from caseapp.forms import DayField, Form
from caseapp.users.models import EMAIL_MAX


class OutcomeForm(Form):
    outcome = RadioField(_l("Kết quả"), choices=[], validators=[InputRequired(_l("Chọn kết quả."))])
    done_on = DayField(_l("Ngày thực hiện"), validators=[InputRequired(_l("Nhập ngày thực hiện."))])
    note = TextAreaField(
        _l("Ghi chú (không bắt buộc)"),
        validators=[Optional(), Length(max=NOTE_MAX)],
        description=_l("Ghi chú được mã hóa; chỉ người có thẩm quyền với hồ sơ xem được."),
        render_kw={"rows": 3},
    )
    submit = SubmitField(_l("Ghi kết quả"))

    def for_kind(self, kind: Kind) -> OutcomeForm:
        self.outcome.choices = [
            SelectChoice(o.value, OUTCOME_LABELS[o]) for o in outcomes_for(kind)
        ]
        return self


class RescheduleForm(Form):
    due_on = DayField(_l("Ngày hẹn mới"), validators=[InputRequired(_l("Nhập ngày hẹn."))])
    reason = SelectField(
        _l("Lý do hẹn lại"),
        choices=[SelectChoice("", _l("— Chọn lý do —"))]
        + [SelectChoice(r.value, REASON_LABELS[r]) for r in RESCHEDULE_REASONS],
        validators=[InputRequired(_l("Chọn lý do hẹn lại."))],
    )
    submit_reschedule = SubmitField(_l("Hẹn lại"))


class AppointmentForm(Form):
    due_on = DayField(_l("Ngày hẹn"), validators=[InputRequired(_l("Nhập ngày hẹn."))])
    note = TextAreaField(
        _l("Nội dung (không bắt buộc)"),
        validators=[Optional(), Length(max=NOTE_MAX)],
        description=_l("Ghi chú được mã hóa; chỉ người có thẩm quyền với hồ sơ xem được."),
        render_kw={"rows": 3},
    )
    submit = SubmitField(_l("Đặt lịch hẹn"))


class ConfirmForm(Form):
    submit = SubmitField(_l("Xác nhận"))


class ReminderPreferencesForm(Form):
    email = EmailField(
        _l("Địa chỉ thư điện tử"),
        validators=[
            Optional(),
            Length(max=EMAIL_MAX),
            # Shape only, as on the administrator's form; delivery proves the rest.
            Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message=_l("Địa chỉ thư điện tử không hợp lệ.")),
        ],
        render_kw={"autocomplete": "email"},
    )
    wants_digest = BooleanField(
        _l("Nhận thư tổng hợp việc cần làm mỗi sáng"),
        description=_l("Thư chỉ ghi mã hồ sơ và số lượng, không ghi thông tin cá nhân."),
    )
    submit = SubmitField(_l("Lưu"))
