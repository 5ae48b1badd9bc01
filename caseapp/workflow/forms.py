"""One short form per workflow step (phone first). Shape only: the workflow checks the rules."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, IntegerField, SelectChoice, SelectField, StringField, SubmitField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from caseapp.cases.forms import MultiCheckboxField
from caseapp.cases.models import DRUG_LABELS
from caseapp.forms import DayField, Form, VndField
from caseapp.workflow.models import (
    CONSENT_PURPOSE_LABELS,
    CONTRACT_LABELS,
    COUNSELLING_KIND_LABELS,
    EMPLOYER_KIND_LABELS,
    INCOME_LABELS,
    LOAN_PROGRAMME_LABELS,
    METHOD_LABELS,
    OUTCOME_LABELS,
    REFERENCE_MAX,
    REHAB_FORM_LABELS,
    RESULT_LABELS,
    SCHOOL_LEVEL_LABELS,
    SECTOR_LABELS,
    SOURCE_LABELS,
    STUDY_RESULT_LABELS,
    TEXT_MAX,
    TOPIC_LABELS,
    StudyResult,
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


# --- Support after rehab ---------------------------------------------------------------------

_OPTIONAL_END = _l("Để trống nếu chưa kết thúc.")
_FINISHED = [
    SelectChoice(r.value, STUDY_RESULT_LABELS[r])
    for r in (StudyResult.COMPLETED, StudyResult.DROPPED)
]


class SchoolingForm(Form):
    level = SelectField(_l("Cấp học"), choices=_choices(SCHOOL_LEVEL_LABELS))
    started_on = DayField(_l("Ngày bắt đầu"), validators=[_REQUIRED_DAY])
    result = SelectField(_l("Kết quả"), choices=_choices(STUDY_RESULT_LABELS))
    ended_on = DayField(_l("Ngày kết thúc"), validators=[Optional()], description=_OPTIONAL_END)
    submit = SubmitField(_l("Lưu quá trình học"))


class SchoolingEndForm(Form):
    ended_on = DayField(_l("Ngày kết thúc"), validators=[_REQUIRED_DAY])
    result = SelectField(_l("Kết quả"), choices=_FINISHED)
    submit = SubmitField(_l("Lưu"))


class TrainingForm(Form):
    course_name = StringField(
        _l("Nghề, khóa học"),
        validators=[InputRequired(_l("Nhập tên nghề, khóa học.")), Length(max=TEXT_MAX)],
    )
    provider = StringField(
        _l("Cơ sở đào tạo"),
        validators=[InputRequired(_l("Nhập cơ sở đào tạo.")), Length(max=TEXT_MAX)],
    )
    started_on = DayField(_l("Ngày bắt đầu"), validators=[_REQUIRED_DAY])
    result = SelectField(_l("Kết quả"), choices=_choices(STUDY_RESULT_LABELS))
    ended_on = DayField(_l("Ngày kết thúc"), validators=[Optional()], description=_OPTIONAL_END)
    certificate_number = StringField(
        _l("Số chứng chỉ, giấy chứng nhận"),
        validators=[Optional(), Length(max=REFERENCE_MAX)],
        description=_l("Khi đã hoàn thành khóa học."),
    )
    submit = SubmitField(_l("Lưu khóa học nghề"))


class TrainingEndForm(Form):
    ended_on = DayField(_l("Ngày kết thúc"), validators=[_REQUIRED_DAY])
    result = SelectField(_l("Kết quả"), choices=_FINISHED)
    certificate_number = StringField(
        _l("Số chứng chỉ, giấy chứng nhận"),
        validators=[Optional(), Length(max=REFERENCE_MAX)],
        description=_l("Khi đã hoàn thành khóa học."),
    )
    submit = SubmitField(_l("Lưu"))


class JobForm(Form):
    started_on = DayField(_l("Ngày bắt đầu làm việc"), validators=[_REQUIRED_DAY])
    sector = SelectField(_l("Ngành nghề"), choices=_choices(SECTOR_LABELS))
    employer_kind = SelectField(_l("Nơi làm việc"), choices=_choices(EMPLOYER_KIND_LABELS))
    employer_name = StringField(
        _l("Tên người sử dụng lao động"),
        validators=[Optional(), Length(max=TEXT_MAX)],
        description=_l("Được mã hóa khi lưu. Bắt buộc nếu cán bộ liên hệ người sử dụng lao động."),
        render_kw={"autocomplete": "off"},
    )
    contract_type = SelectField(_l("Hợp đồng lao động"), choices=_choices(CONTRACT_LABELS))
    income_band = SelectField(_l("Thu nhập"), choices=_choices(INCOME_LABELS))
    employer_contacted = BooleanField(
        _l("Cán bộ liên hệ người sử dụng lao động về người này"),
        description=_l(
            "Cần sự đồng ý (mục đích: liên hệ người sử dụng lao động) còn hiệu lực "
            "vào ngày bắt đầu làm việc."
        ),
    )
    submit = SubmitField(_l("Lưu việc làm"))


class JobEndForm(Form):
    ended_on = DayField(_l("Ngày nghỉ việc"), validators=[_REQUIRED_DAY])
    submit = SubmitField(_l("Lưu"))


class JobCheckForm(Form):
    checked_on = DayField(_l("Ngày theo dõi"), validators=[_REQUIRED_DAY])
    still_employed = SelectField(
        _l("Kết quả"),
        choices=[
            SelectChoice("yes", _l("Còn làm việc")),
            SelectChoice("no", _l("Không còn làm việc")),
        ],
    )
    submit = SubmitField(_l("Lưu lần theo dõi"))


class ConsentForm(Form):
    purpose = SelectField(_l("Mục đích"), choices=_choices(CONSENT_PURPOSE_LABELS))
    given_on = DayField(_l("Ngày đồng ý"), validators=[_REQUIRED_DAY])
    with_representative = BooleanField(
        _l("Có cả sự đồng ý của người đại diện hợp pháp"),
        description=_l("Bắt buộc với người dưới 18 tuổi."),
    )
    submit = SubmitField(_l("Lưu sự đồng ý"))


class ConsentWithdrawForm(Form):
    withdrawn_on = DayField(_l("Ngày rút lại"), validators=[_REQUIRED_DAY])
    submit = SubmitField(_l("Rút lại sự đồng ý"))


class LoanForm(Form):
    programme = SelectField(_l("Chương trình"), choices=_choices(LOAN_PROGRAMME_LABELS))
    referred_on = DayField(_l("Ngày giới thiệu"), validators=[_REQUIRED_DAY])
    amount_requested_vnd = VndField(
        _l("Số tiền đề nghị vay (đồng)"), validators=[InputRequired(_l("Nhập số tiền."))]
    )
    on_police_list = BooleanField(
        _l("Có tên trong danh sách do Công an cấp xã lập, UBND cấp xã xác nhận"),
        description=_l("Bắt buộc với Quyết định 08/2026/QĐ-TTg."),
    )
    submit = SubmitField(_l("Giới thiệu vay vốn"))


class LoanStepForm(Form):
    dated_on = DayField(_l("Ngày"), validators=[_REQUIRED_DAY])
    submit = SubmitField(_l("Lưu"))


class LoanAmountForm(LoanStepForm):
    amount_vnd = VndField(_l("Số tiền (đồng)"), validators=[InputRequired(_l("Nhập số tiền."))])


class RelapseForm(Form):
    relapsed_on = DayField(_l("Ngày tái nghiện, tái sử dụng"), validators=[_REQUIRED_DAY])
    substances = MultiCheckboxField(_l("Loại chất sử dụng"), choices=_choices(DRUG_LABELS))
    submit = SubmitField(_l("Lưu"))


class ReintegrationForm(Form):
    certified_on = DayField(_l("Ngày chứng nhận"), validators=[_REQUIRED_DAY])
    submit = SubmitField(_l("Chứng nhận tái hòa nhập cộng đồng"))
