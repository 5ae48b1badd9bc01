"""A hand-built province of eight synthetic youth whose indicators are worked out by hand in
``test_indicators.py``. Every step goes through the real services, on the clock of 28/11/2026."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from caseapp.cases.models import Case, Category, CloseReason, Sex
from caseapp.cases.services import CaseData, close_case, create_case
from caseapp.extensions import db
from caseapp.geo.models import Commune
from caseapp.workflow import services, support
from caseapp.workflow.models import (
    ConsentPurpose,
    CounsellingKind,
    CounsellingTopic,
    DrugType,
    LoanProgramme,
    LoanStatus,
    RehabForm,
    ScreeningMethod,
    ScreeningResult,
    ScreeningSource,
    StudyResult,
)
from tests.conftest import C1, C2
from tests.followups.conftest import frozen  # noqa: F401 - shared fixture
from tests.workflow.conftest import ctx, officer, worker  # noqa: F401 - shared fixtures
from tests.workflow.support_setup import consent, determined, job, monthly_checks, to_post_rehab

TODAY = date(2026, 11, 28)
NAMES = {  # synthetic people: the exports must never show them
    "A": "Trần Văn Thử An",
    "B": "Lê Thị Thử Bình",
    "C": "Phạm Văn Thử Cường",
    "D": "Hoàng Văn Thử Dũng",
    "E": "Vũ Thị Thử Em",
    "F": "Đỗ Văn Thử Phúc",
    "G": "Bùi Thị Thử Giang",
    "I": "Ngô Văn Thử Ích",
}


@dataclass
class Province:
    cases: dict[str, Case]
    codes: dict[str, str]


def _case(actor, key: str, *, commune: int, sex: Sex, born: int, intake: date,
          category: Category = Category.USER) -> Case:  # fmt: skip
    data = CaseData(
        full_name=NAMES[key],
        date_of_birth=date(born, 3, 1),
        sex=sex,
        national_id=None,
        phone=None,
        address=None,
        guardian_name="Người Giám Hộ Thử" if intake.year - born < 19 else None,
        guardian_relation=None,
        guardian_phone=None,
        notes=None,
        commune_code=commune,
        category=category,
        education=None,
        occupation=None,
        drug_types=[],
        assigned_worker_id=None,
        intake_on=intake,
    )
    case, _ = create_case(data, actor=actor)
    db.session.commit()
    return db.session.scalars(sa.select(Case).where(Case.id == case.id)).one()


@pytest.fixture
def province(frozen, ctx, worker, officer) -> Province:  # noqa: F811 - the shared fixtures
    """The youth and what happened to them (period 2026 = 15/12/2025 – 14/12/2026):

    A  C1 male   2010 user         intake 01/03/2025, screened 10/02/2026
    B  C1 female 2000 user         intake 05/01/2026, behaviour-change counselling 01/03/2026
    C  C1 male   2012 user         intake 01/06/2025, nothing but a relapse on 01/04/2026
    D  C1 male   1998 user→post-rehab  intake 01/05/2025, screened and determined 01/02/2026,
       community rehab 06/02–06/08/2026 completed and approved, post-rehab from 07/08/2026,
       training from 01/09/2026, loan referred 10/09, approved 01/10 (40 M), disbursed 15/10
    E  C2 female 1995 post-prison  intake 01/06/2024, job from 05/01/2026 confirmed monthly,
       reintegration certified 06/07/2026
    F  C2 male   2009 user         intake 01/01/2024, closed 01/06/2025 (moved away)
    G  C1 female 2011 user         intake 01/02/2026, screened 01/03/2026, closed today
    I  C2 male   1999 user→in rehab intake 01/09/2026, determined 15/09, methadone from 01/10/2026
    Commune C1 has 800 residents on record; C2 has no population entered.
    """
    db.session.execute(sa.update(Commune).where(Commune.code == C1).values(population=800))
    db.session.execute(sa.update(Commune).where(Commune.code == C2).values(population=None))
    male, female = Sex.MALE, Sex.FEMALE
    a = _case(worker, "A", commune=C1, sex=male, born=2010, intake=date(2025, 3, 1))
    b = _case(worker, "B", commune=C1, sex=female, born=2000, intake=date(2026, 1, 5))
    c = _case(worker, "C", commune=C1, sex=male, born=2012, intake=date(2025, 6, 1))
    d = _case(worker, "D", commune=C1, sex=male, born=1998, intake=date(2025, 5, 1))
    e = _case(worker, "E", commune=C2, sex=female, born=1995, intake=date(2024, 6, 1),
              category=Category.POST_PRISON)  # fmt: skip
    f = _case(worker, "F", commune=C2, sex=male, born=2009, intake=date(2024, 1, 1))
    g = _case(worker, "G", commune=C1, sex=female, born=2011, intake=date(2026, 2, 1))
    i = _case(worker, "I", commune=C2, sex=male, born=1999, intake=date(2026, 9, 1))

    def screen(case: Case, on: date) -> None:
        services.record_screening(
            case, screened_on=on, source=ScreeningSource.SCHOOL, method=ScreeningMethod.DRUG_TEST,
            result=ScreeningResult.POSITIVE, actor=worker, today=TODAY,
        )  # fmt: skip

    screen(a, date(2026, 2, 10))
    services.record_counselling(
        b, held_on=date(2026, 3, 1), kind=CounsellingKind.INDIVIDUAL,
        topic=CounsellingTopic.BEHAVIOUR_CHANGE, counsellor="Cán bộ tư vấn", actor=worker,
        today=TODAY,
    )  # fmt: skip
    support.record_relapse(
        c, relapsed_on=date(2026, 4, 1), substances=[DrugType.METHAMPHETAMINE], actor=worker,
        today=TODAY,
    )  # fmt: skip
    to_post_rehab(d, worker, officer, start=date(2026, 2, 1), today=TODAY)
    support.record_training(
        d, course_name="Sửa chữa xe máy", provider="Trường nghề", started_on=date(2026, 9, 1),
        ended_on=None, result=StudyResult.IN_PROGRESS, certificate_number=None, actor=worker,
        today=TODAY,
    )  # fmt: skip
    consent(d, worker, ConsentPurpose.LOAN_REFERRAL, date(2026, 9, 1), TODAY)
    loan = support.refer_loan(
        d, programme=LoanProgramme.DECISION_08_2026, referred_on=date(2026, 9, 10),
        amount_requested_vnd=50_000_000, on_police_list=True, actor=worker, today=TODAY,
    )  # fmt: skip
    for to, on, amount in (
        (LoanStatus.APPLICATION, date(2026, 9, 20), None),
        (LoanStatus.APPROVED, date(2026, 10, 1), 40_000_000),
        (LoanStatus.DISBURSED, date(2026, 10, 15), 40_000_000),
    ):
        support.advance_loan(d, loan, to=to, dated_on=on, amount_vnd=amount, actor=worker,
                             today=TODAY)  # fmt: skip
    placed = job(e, worker, date(2026, 1, 5), TODAY)
    monthly_checks(e, placed, worker, 6, TODAY)
    support.certify_reintegration(e, certified_on=date(2026, 7, 6), actor=officer, today=TODAY)
    close_case(f, CloseReason.MOVED_AWAY, "", actor=officer)
    screen(g, date(2026, 3, 1))
    close_case(g, CloseReason.MOVED_AWAY, "", actor=officer)
    determined(i, worker, date(2026, 9, 15), TODAY)
    services.start_rehab(
        i, services.RehabStart(RehabForm.METHADONE, date(2026, 10, 1), None),
        actor=worker, today=TODAY,
    )  # fmt: skip
    db.session.commit()
    # F left in June 2025: closing records "now", so the day is set as the archive says.
    db.session.execute(
        sa.update(Case)
        .where(Case.id == f.id)
        .values(closed_at=datetime(2025, 6, 1, 3, 0, tzinfo=UTC) - timedelta(hours=0))
    )
    db.session.commit()
    cases = {"A": a, "B": b, "C": c, "D": d, "E": e, "F": f, "G": g, "I": i}
    return Province(cases=cases, codes={k: v.code for k, v in cases.items()})
