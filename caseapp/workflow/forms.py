"""One short form per workflow step (phone first). Shape only: the workflow checks the rules."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, IntegerField, SelectChoice, SelectField, StringField, SubmitField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from caseapp.forms import DayField, Form
from caseapp.workflow.models import (
    COUNSELLING_KIND_LABELS,
    METHOD_LABELS,
    OUTCOME_LABELS,
    REFERENCE_MAX,
    REHAB_FORM_LABELS,
    RESULT_LABELS,
    SOURCE_LABELS,
    TEXT_MAX,
    TOPIC_LABELS,
)

_REQUIRED_DAY = InputRequired(_l("Nhập ngày (dd/mm/yyyy)."))


def _choices(labels: dict[Any, Any]) -> list[SelectChoice]:
    return [SelectChoice(k.value, v) for k, v in labels.items()]


class ScreeningForm(Form):
    screened_on = DayField(_l("Ngày sàng lọc"), validators=[_REQUIRED_DAY])
    source = SelectField(_l("Nguồn phát hiện"), choices=_choices(SOURCE_LABELS))
    method = SelectField(_l("Phương pháp"), choices=_choices(METHOD_LABELS))
    result = SelectField(_l("Kết quả"), choices=_choices(RESULT_LABELS))
    submit = SubmitField(_l("Lưu kết quả sàng lọc"))


class DeterminationForm(Form):
    determined_on = DayField(_l("Ngày xác định"), validators=[_REQUIRED_DAY])
    facility = StringField(
        _l("Cơ sở y tế đủ điều kiện xác định tình trạng nghiện"),
        validators=[InputRequired(_l("Nhập tên cơ sở y tế.")), Length(max=TEXT_MAX)],
    )
    is_addicted = SelectField(
        _l("Kết luận"),
        choices=[SelectChoice("yes", _l("Nghiện ma túy")), SelectChoice("no", _l("Không nghiện"))],
    )
    form_reference = StringField(
        _l("Số phiếu kết quả"), validators=[Optional(), Length(max=REFERENCE_MAX)]
    )
    submit = SubmitField(_l("Lưu kết quả"))


class CounsellingForm(Form):
    held_on = DayField(_l("Ngày tư vấn"), validators=[_REQUIRED_DAY])
    kind = SelectField(_l("Hình thức"), choices=_choices(COUNSELLING_KIND_LABELS))
    topic = SelectField(_l("Nội dung"), choices=_choices(TOPIC_LABELS))
    counsellor = StringField(
        _l("Người tư vấn"),
        validators=[InputRequired(_l("Nhập người tư vấn.")), Length(max=TEXT_MAX)],
    )
    submit = SubmitField(_l("Lưu buổi tư vấn"))


class RehabStartForm(Form):
    form = SelectField(_l("Hình thức cai nghiện"), choices=_choices(REHAB_FORM_LABELS))
    started_on = DayField(_l("Ngày bắt đầu"), validators=[_REQUIRED_DAY])
    months = IntegerField(
        _l("Thời hạn (tháng)"),
        validators=[Optional(), NumberRange(min=1, max=60)],
        render_kw={"inputmode": "numeric"},
        description=_l("Không cần với điều trị methadone."),
    )
    court_decision_number = StringField(
        _l("Số quyết định của Tòa án"),
        validators=[Optional(), Length(max=REFERENCE_MAX)],
        description=_l("Bắt buộc với cai nghiện bắt buộc."),
    )
    court_decision_on = DayField(_l("Ngày quyết định của Tòa án"), validators=[Optional()])
    representative_consent = BooleanField(
        _l("Có sự đồng ý bằng văn bản của người đại diện hợp pháp / cha mẹ"),
        description=_l(
            "Bắt buộc với người dưới 18 tuổi cai tự nguyện, dưới 16 tuổi điều trị methadone."
        ),
    )
    submit = SubmitField(_l("Bắt đầu đợt cai"))


class RehabEndForm(Form):
    ended_on = DayField(_l("Ngày kết thúc"), validators=[_REQUIRED_DAY])
    outcome = SelectField(_l("Kết quả"), choices=_choices(OUTCOME_LABELS))
    certificate_number = StringField(
        _l("Số giấy chứng nhận hoàn thành"), validators=[Optional(), Length(max=REFERENCE_MAX)]
    )
    submit = SubmitField(_l("Kết thúc đợt cai"))


class PostRehabStartForm(Form):
    started_on = DayField(_l("Ngày bắt đầu quản lý sau cai"), validators=[_REQUIRED_DAY])
    submit = SubmitField(_l("Bắt đầu quản lý sau cai"))


class PostRehabEndForm(Form):
    ended_on = DayField(_l("Ngày kết thúc"), validators=[_REQUIRED_DAY])
    certificate_number = StringField(
        _l("Số giấy chứng nhận hoàn thành"),
        validators=[InputRequired(_l("Nhập số giấy chứng nhận.")), Length(max=REFERENCE_MAX)],
    )
    submit = SubmitField(_l("Kết thúc quản lý sau cai"))


class ConfirmForm(Form):
    submit = SubmitField(_l("Xác nhận"))
