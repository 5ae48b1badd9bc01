"""Case forms. They check shape only; ``services.check_input`` applies the rules and names the
field of each problem, so every refusal appears next to what the person typed."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    HiddenField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from caseapp.cases.models import (
    ADDRESS_MAX,
    CATEGORY_LABELS,
    CLOSE_REASON_LABELS,
    DRUG_LABELS,
    EDUCATION_LABELS,
    NAME_MAX,
    NOTES_MAX,
    OCCUPATION_LABELS,
    PHASE_LABELS,
    REASON_MAX,
    RELATION_MAX,
    SEX_LABELS,
    STATUS_LABELS,
    CloseReason,
)
from caseapp.cases.queries import WorkerName
from caseapp.cases.services import CaseInput
from caseapp.forms import Form, LongSelect
from caseapp.geo.models import Commune
from caseapp.web import small_int

# Generous input limits: the services give the precise message; these stop abuse before it.
_TEXT_CAP = 2 * NOTES_MAX
DATE_HINT = _l("Dạng dd/mm/yyyy, ví dụ 05/09/2008.")


def _choices(labels: dict, *, blank: object = None) -> list[SelectChoice]:  # type: ignore[type-arg]
    # Labels stay lazy: they are translated when the page is rendered, in the user's language.
    options = [SelectChoice(k.value, v) for k, v in labels.items()]
    return [SelectChoice("", blank), *options] if blank is not None else options


def _optional_int(value: object) -> int | None:
    text = str(value or "").strip()
    return small_int(text)


class MarkRequired:
    """Marks a field required (asterisk, ``required`` attribute) without stopping validation:
    the service checks it together with every other rule, so all problems show at once."""

    field_flags = {"required": True}  # noqa: RUF012 -- WTForms reads this class attribute

    def __call__(self, form: object, field: object) -> None:
        return None


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class CaseForm(Form):
    full_name = StringField(
        _l("Họ và tên"),
        validators=[MarkRequired(), Length(max=_TEXT_CAP)],
        render_kw={"autocomplete": "off", "maxlength": NAME_MAX},
    )
    date_of_birth = StringField(
        _l("Ngày sinh"),
        validators=[MarkRequired(), Length(max=40)],
        render_kw={"inputmode": "numeric", "placeholder": "dd/mm/yyyy", "autocomplete": "off"},
        description=DATE_HINT,
    )
    sex = SelectField(
        _l("Giới tính"),
        choices=_choices(SEX_LABELS, blank=_l("— Chọn —")),
        validators=[MarkRequired()],
    )
    national_id = StringField(
        _l("Số định danh cá nhân (CCCD)"),
        validators=[Length(max=40)],
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
        description=_l("12 chữ số. Để trống nếu chưa có."),
    )
    phone = StringField(
        _l("Số điện thoại"),
        validators=[Length(max=40)],
        render_kw={"inputmode": "tel", "autocomplete": "off"},
    )
    address = StringField(
        _l("Nơi ở hiện tại"),
        validators=[Length(max=_TEXT_CAP)],
        render_kw={"autocomplete": "off", "maxlength": ADDRESS_MAX},
    )
    guardian_name = StringField(
        _l("Họ tên người giám hộ (người đại diện hợp pháp)"),
        validators=[Length(max=_TEXT_CAP)],
        render_kw={"autocomplete": "off", "maxlength": NAME_MAX},
        description=_l("Bắt buộc với người dưới 18 tuổi."),
    )
    guardian_relation = StringField(
        _l("Quan hệ với người giám hộ"),
        validators=[Length(max=_TEXT_CAP)],
        render_kw={"maxlength": RELATION_MAX},
    )
    guardian_phone = StringField(
        _l("Số điện thoại người giám hộ"),
        validators=[Length(max=40)],
        render_kw={"inputmode": "tel", "autocomplete": "off"},
    )
    notes = TextAreaField(
        _l("Ghi chú"),
        validators=[Length(max=_TEXT_CAP)],
        render_kw={"rows": 4, "maxlength": NOTES_MAX},
    )
    commune_code = SelectField(
        _l("Xã, phường quản lý"),
        coerce=_optional_int,
        validators=[MarkRequired()],
        widget=LongSelect(),
    )
    category = SelectField(
        _l("Đối tượng"),
        choices=_choices(CATEGORY_LABELS, blank=_l("— Chọn —")),
        validators=[MarkRequired()],
    )
    education = SelectField(
        _l("Trình độ học vấn"), choices=_choices(EDUCATION_LABELS, blank=_l("— Chưa rõ —"))
    )
    occupation = SelectField(
        _l("Tình trạng việc làm"), choices=_choices(OCCUPATION_LABELS, blank=_l("— Chưa rõ —"))
    )
    drug_types = MultiCheckboxField(_l("Loại ma túy sử dụng"), choices=_choices(DRUG_LABELS))
    assigned_worker_id = SelectField(_l("Cán bộ được giao"), coerce=_optional_int)
    intake_on = StringField(
        _l("Ngày tiếp nhận"),
        validators=[Length(max=40)],
        render_kw={"inputmode": "numeric", "placeholder": "dd/mm/yyyy"},
        description=DATE_HINT,
    )
    version = HiddenField()
    submit = SubmitField(_l("Lưu hồ sơ"))

    def set_choices(self, communes: list[Commune], workers: list[WorkerName]) -> None:
        self.commune_code.choices = [SelectChoice(c.code, c.name) for c in communes]
        if len(communes) != 1:
            self.commune_code.choices.insert(0, SelectChoice("", str(_l("— Chọn —"))))
        self.assigned_worker_id.choices = [
            SelectChoice("", str(_l("— Chưa giao —"))),
            *(SelectChoice(w.id, w.display_name) for w in workers),
        ]

    def to_input(self) -> CaseInput:
        return CaseInput(
            full_name=self.full_name.data or "",
            date_of_birth=self.date_of_birth.data or "",
            sex=self.sex.data or "",
            national_id=self.national_id.data or "",
            phone=self.phone.data or "",
            address=self.address.data or "",
            guardian_name=self.guardian_name.data or "",
            guardian_relation=self.guardian_relation.data or "",
            guardian_phone=self.guardian_phone.data or "",
            notes=self.notes.data or "",
            commune_code=self.commune_code.data,
            category=self.category.data or "",
            education=self.education.data or "",
            occupation=self.occupation.data or "",
            drug_types=list(self.drug_types.data or []),
            assigned_worker_id=self.assigned_worker_id.data,
            intake_on=self.intake_on.data or "",
        )


class FilterForm(Form):
    """The case list's filters (GET: no CSRF token, nothing identifying in the URL)."""

    class Meta(Form.Meta):
        csrf = False

    category = SelectField(_l("Đối tượng"), choices=_choices(CATEGORY_LABELS, blank=_l("Tất cả")))
    phase = SelectField(_l("Giai đoạn"), choices=_choices(PHASE_LABELS, blank=_l("Tất cả")))
    status = SelectField(_l("Trạng thái"), choices=_choices(STATUS_LABELS, blank=_l("Tất cả")))
    commune = SelectField(_l("Xã, phường"), coerce=_optional_int, widget=LongSelect())
    worker = SelectField(_l("Cán bộ được giao"), coerce=_optional_int)
    overdue = SelectField(
        _l("Hạn"),
        choices=[SelectChoice("", _l("Tất cả")), SelectChoice("1", _l("Chỉ hồ sơ quá hạn"))],
    )


class SearchForm(Form):
    """Search by code, CCCD or name: POST, so nothing identifying lands in a URL or a log."""

    query = StringField(
        _l("Tìm theo mã hồ sơ, số CCCD hoặc họ tên"),
        validators=[InputRequired(_l("Nhập nội dung cần tìm.")), Length(max=NAME_MAX)],
        render_kw={"autocomplete": "off", "enterkeyhint": "search"},
        description=_l("Họ tên có thể gõ có dấu hoặc không dấu, một phần của tên."),
    )
    submit = SubmitField(_l("Tìm"))


class TransferForm(Form):
    commune_code = SelectField(
        _l("Chuyển đến xã, phường"), coerce=_optional_int, widget=LongSelect()
    )
    reason = TextAreaField(
        _l("Lý do chuyển"),
        validators=[InputRequired(_l("Nhập lý do chuyển hồ sơ.")), Length(max=REASON_MAX)],
        render_kw={"rows": 3},
    )
    submit = SubmitField(_l("Chuyển hồ sơ"))


class CloseForm(Form):
    reason = SelectField(
        _l("Lý do đóng hồ sơ"),
        choices=[
            SelectChoice(k.value, v)
            for k, v in CLOSE_REASON_LABELS.items()
            if k is not CloseReason.MERGED
        ],
    )
    note = TextAreaField(_l("Ghi chú"), validators=[Length(max=REASON_MAX)], render_kw={"rows": 3})
    submit = SubmitField(_l("Đóng hồ sơ"))


class ReopenForm(Form):
    note = TextAreaField(
        _l("Lý do mở lại"),
        validators=[InputRequired(_l("Nhập lý do mở lại hồ sơ.")), Length(max=REASON_MAX)],
        render_kw={"rows": 3},
    )
    submit = SubmitField(_l("Mở lại hồ sơ"))


class AssignForm(Form):
    worker_id = SelectField(_l("Cán bộ được giao"), coerce=_optional_int)
    submit = SubmitField(_l("Giao hồ sơ"))


class LegalHoldForm(Form):
    reason = TextAreaField(
        _l("Lý do giữ hồ sơ"),
        validators=[InputRequired(), Length(max=REASON_MAX)],
        description=_l(
            "Ví dụ: số và ngày văn bản của cơ quan tiến hành tố tụng, thanh tra. Trong thời gian "
            "giữ, hồ sơ không bị ẩn danh khi hết thời hạn lưu trữ."
        ),
        render_kw={"rows": 3},
    )
    submit = SubmitField(_l("Xác nhận đặt lệnh giữ"))


class LiftHoldForm(Form):
    submit = SubmitField(_l("Xác nhận gỡ lệnh giữ"))


class HoldLookupForm(Form):
    code = StringField(_l("Mã hồ sơ"), validators=[InputRequired(), Length(max=20)])
    submit = SubmitField(_l("Đặt lệnh giữ"))
