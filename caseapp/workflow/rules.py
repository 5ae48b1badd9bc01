"""The law as data: rule sets with effective-date ranges and legal references (DESIGN §4).

Each decision stores the rule set it was made under, so editing a rule never changes the past.
Values marked *(to confirm)* in DESIGN §4 are seeded as given and editable by the administrator.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l

# Parameters every rule set has, with their meaning (shown on the administrator's edit page).
PARAMS: dict[str, Any] = {  # name -> label (lazy: shown in the user's language)
    "user_management_months": _l("Thời hạn quản lý người sử dụng trái phép (tháng)"),
    "register_within_working_days": _l(
        "Hạn đăng ký cai nghiện sau khi xác định nghiện (ngày làm việc)"
    ),
    "voluntary_min_months": _l("Cai tự nguyện: tối thiểu (tháng)"),
    "voluntary_max_months": _l("Cai tự nguyện: tối đa (tháng)"),
    "compulsory_adult_min_months": _l("Cai bắt buộc từ 18 tuổi: tối thiểu (tháng)"),
    "compulsory_adult_max_months": _l("Cai bắt buộc từ 18 tuổi: tối đa (tháng)"),
    "compulsory_minor_min_months": _l("Cai bắt buộc 12 đến dưới 18 tuổi: tối thiểu (tháng)"),
    "compulsory_minor_max_months": _l("Cai bắt buộc 12 đến dưới 18 tuổi: tối đa (tháng)"),
    "compulsory_min_age": _l("Tuổi tối thiểu áp dụng cai bắt buộc"),
    "adult_age": _l("Tuổi thành niên"),
    "methadone_parental_consent_under_age": _l(
        "Điều trị methadone cần cha mẹ đồng ý nếu dưới (tuổi)"
    ),
    "voluntary_min_stages": _l("Cai tự nguyện phải hoàn thành tối thiểu (giai đoạn)"),
    "post_rehab_months": _l("Quản lý sau cai (tháng), trừ trường hợp dưới đây"),
    "post_rehab_compulsory_adult_months": _l(
        "Quản lý sau cai bắt buộc của người thành niên (tháng)"
    ),
    "loan_min_age": _l("Vay vốn: tuổi tối thiểu"),
    "loan_window_years": _l("Vay vốn: trong vòng (năm) kể từ quyết định quản lý sau cai"),
    "loan_max_vnd": _l("Vay vốn: mức tối đa (đồng)"),
    "stable_job_months": _l("Việc làm ổn định: số tháng liên tục được xác nhận"),
    "stable_job_max_gap_days": _l(
        "Việc làm ổn định: hai lần xác nhận cách nhau tối đa (ngày), quá thì tính lại"
    ),
    # Follow-up plans (lần theo dõi): what each transition schedules.
    "followup_rehab_days": _l("Theo dõi cai nghiện tại cộng đồng: mỗi (ngày)"),
    "followup_methadone_months": _l("Theo dõi điều trị methadone: mỗi (tháng)"),
    "followup_post_rehab_months": _l("Theo dõi quản lý sau cai: mỗi (tháng)"),
    "followup_job_first_months": _l("Xác nhận còn làm việc: lần 1 sau (tháng), 0 = không"),
    "followup_job_second_months": _l("Xác nhận còn làm việc: lần 2 sau (tháng), 0 = không"),
    "followup_job_third_months": _l("Xác nhận còn làm việc: lần 3 sau (tháng), 0 = không"),
    "followup_loan_days": _l("Kiểm tra kết quả giới thiệu vay vốn sau (ngày)"),
    "followup_escalate_after_days": _l("Báo cán bộ phụ trách khi lần theo dõi quá hạn (ngày)"),
}

# Intervals that cannot be zero (a plan repeating every 0 days never ends).
POSITIVE_PARAMS = (
    "followup_rehab_days",
    "followup_methadone_months",
    "followup_post_rehab_months",
    "stable_job_max_gap_days",
)

# Parameters added after the first rule sets were written: decisions recorded before then carry
# snapshots without them, and read them as these values (the plan in force at the time).
ADDED_DEFAULTS: dict[str, int] = {
    "stable_job_max_gap_days": 105,
    "followup_rehab_days": 14,
    "followup_methadone_months": 1,
    "followup_post_rehab_months": 1,
    "followup_job_first_months": 1,
    "followup_job_second_months": 3,
    "followup_job_third_months": 6,
    "followup_loan_days": 30,
    "followup_escalate_after_days": 7,
}


@dataclass(frozen=True)
class Rules:
    """A rule set's parameters, typed."""

    user_management_months: int
    register_within_working_days: int
    voluntary_min_months: int
    voluntary_max_months: int
    compulsory_adult_min_months: int
    compulsory_adult_max_months: int
    compulsory_minor_min_months: int
    compulsory_minor_max_months: int
    compulsory_min_age: int
    adult_age: int
    methadone_parental_consent_under_age: int
    voluntary_min_stages: int
    post_rehab_months: int
    post_rehab_compulsory_adult_months: int
    loan_min_age: int
    loan_window_years: int
    loan_max_vnd: int
    stable_job_months: int
    stable_job_max_gap_days: int
    followup_rehab_days: int
    followup_methadone_months: int
    followup_post_rehab_months: int
    followup_job_first_months: int
    followup_job_second_months: int
    followup_job_third_months: int
    followup_loan_days: int
    followup_escalate_after_days: int

    @property
    def job_check_months(self) -> tuple[int, ...]:
        """The months after a job's start when a follow-up asks "still employed?"."""
        months = (
            self.followup_job_first_months,
            self.followup_job_second_months,
            self.followup_job_third_months,
        )
        return tuple(sorted({m for m in months if m > 0}))

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Rules:
        """Typed rules; raises ValueError naming a missing or non-integer parameter."""
        values = {}
        for item in fields(cls):
            raw = params.get(item.name, ADDED_DEFAULTS.get(item.name))
            if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
                raise ValueError(item.name)
            values[item.name] = raw
        rules = cls(**values)
        for low, high in (
            ("voluntary_min_months", "voluntary_max_months"),
            ("compulsory_adult_min_months", "compulsory_adult_max_months"),
            ("compulsory_minor_min_months", "compulsory_minor_max_months"),
        ):
            if values[low] > values[high]:
                raise ValueError(low)
        for name in POSITIVE_PARAMS:
            if values[name] < 1:
                raise ValueError(name)
        return rules


REGIME_2021 = {
    "code": "law-73-2021",
    "name": "Luật Phòng, chống ma túy 2021 và các nghị định 105, 109, 116/2021",
    "legal_basis": (
        "Luật Phòng, chống ma túy số 73/2021/QH14; Nghị định 105/2021/NĐ-CP; Nghị định "
        "109/2021/NĐ-CP; Nghị định 116/2021/NĐ-CP; Thông tư 18/2021/TT-BYT (xác định nghiện); "
        "Quyết định 08/2026/QĐ-TTg (vay vốn, từ 01/05/2026)."
    ),
    "effective_from": date(2022, 1, 1),
    "effective_to": date(2026, 6, 30),
    "params": {
        "user_management_months": 12,
        "register_within_working_days": 5,
        "voluntary_min_months": 6,
        "voluntary_max_months": 12,
        "compulsory_adult_min_months": 12,
        "compulsory_adult_max_months": 24,
        "compulsory_minor_min_months": 6,
        "compulsory_minor_max_months": 12,
        "compulsory_min_age": 12,
        "adult_age": 18,
        "methadone_parental_consent_under_age": 16,
        "voluntary_min_stages": 3,
        "post_rehab_months": 12,
        "post_rehab_compulsory_adult_months": 24,
        "loan_min_age": 12,
        "loan_window_years": 10,
        "loan_max_vnd": 200_000_000,
        "stable_job_months": 6,
        **ADDED_DEFAULTS,
    },
}
REGIME_2025 = {
    "code": "law-120-2025",
    "name": "Luật số 120/2025/QH15 và Nghị định 163/2026 (cần xác nhận phạm vi)",
    "legal_basis": (
        "Luật số 120/2025/QH15 sửa đổi Luật Phòng, chống ma túy (từ 01/07/2026); Nghị định "
        "163/2026/NĐ-CP. Thời hạn cai 24 tháng lần đầu, 36 tháng từ lần thứ hai: cần xác nhận "
        "phạm vi áp dụng trước khi dùng."
    ),
    "effective_from": date(2026, 7, 1),
    "effective_to": None,
    "params": {
        **REGIME_2021["params"],  # type: ignore[dict-item]
        "compulsory_adult_min_months": 24,
        "compulsory_adult_max_months": 24,
    },
}
SEEDED = (REGIME_2021, REGIME_2025)

# Loan programmes that exist only from a date: Decision 08/2026/QĐ-TTg applies from 01/05/2026.
PROGRAMME_FROM: dict[str, date] = {"decision_08_2026": date(2026, 5, 1)}
# Programmes whose borrowers must be on the commune police's list, certified by the commune
# People's Committee (Decision 08/2026/QĐ-TTg, DESIGN §4).
PROGRAMMES_NEEDING_POLICE_LIST = frozenset({"decision_08_2026"})
