"""Break-glass forms: the request (a reason and an acknowledgement) and the code look-up."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, StringField, SubmitField, TextAreaField
from wtforms.validators import Length, ValidationError

from caseapp.break_glass.models import REASON_MAX, REASON_MIN
from caseapp.errors import FieldError
from caseapp.forms import Form


class RequestForm(Form):
    reason = TextAreaField(
        _l("Lý do cần xem hồ sơ"),
        # A generous cap stops abuse before the service gives its precise message.
        validators=[Length(max=2 * REASON_MAX)],
        render_kw={"rows": 4, "maxlength": REASON_MAX, "autocomplete": "off"},
        description=_l(
            "Ghi rõ công việc cần làm với hồ sơ này, ít nhất %(n)d ký tự (ví dụ: phối hợp xác "
            "minh theo đề nghị của xã khác). Không ghi họ tên hay số CCCD của người trong hồ sơ.",
            n=REASON_MIN,
        ),
    )
    acknowledge = BooleanField(
        _l(
            "Tôi hiểu rằng lần truy cập này được ghi vào nhật ký truy cập, lãnh đạo được thông "
            "báo, và tôi chỉ dùng thông tin cho công việc đã nêu."
        )
    )
    submit = SubmitField(_l("Yêu cầu truy cập khẩn cấp"))

    def validate_reason(self, field: Any) -> None:
        from caseapp.break_glass.services import check_reason

        try:
            check_reason(field.data)
        except FieldError as exc:
            raise ValidationError(exc.message) from None

    def validate_acknowledge(self, field: Any) -> None:
        if not field.data:
            raise ValidationError(_l("Hãy đánh dấu xác nhận trước khi yêu cầu truy cập."))


class LookupForm(Form):
    class Meta(Form.Meta):
        csrf = False  # a GET form that only leads to the request page

    code = StringField(
        _l("Mã hồ sơ"),
        validators=[Length(max=40)],
        render_kw={"autocomplete": "off", "spellcheck": "false"},
        description=_l("Mã gồm 9 ký tự, ví dụ 7K3M-9QXD-Z."),
    )
    submit = SubmitField(_l("Tiếp tục"))
