"""Proofs of residence (مدارک احراز محل سکونت), seed 004 «شرایط و مدارک احراز محل سکونت».

A document of a residence kind (``residence_proof``, the transfer's ``buyer_residence_proof``)
names which of the seed's proofs it is (``residence.type``) and carries what that proof's
conditions need; :func:`residence_problems` says why one does not qualify. An address the
system holds because of a plate («صرف داشتن آدرس در سامانه به جهت پلاک نصبی یا آزاد امانی»)
never proves residence, and a utility bill alone is only supplementary («بعنوان مدارک تکمیلی»).

The conditions are what the officer reads off the paper (a tracking code, whose name a deed is
in, who confirmed a letter); the system cannot read the paper itself. In cases started under
``PLATE_REVIEW`` only the officer files a proof of residence (the applicant cannot certify their
own), and the proof is judged by :func:`residence_problems` with ``strict=True``: the holder
the seed names («به نام مالک», «بنام همسر», «بنام پدر یا مادر»), no date in the future, and no
field foreign to the proof's type.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from pydantic import Field

from domain import policy
from domain.calendar import add_jalali_years
from domain.commands import Code, Day, Strict

ResidenceType = Literal[
    "owned_home_deed",
    "registered_lease",
    "business_licence",
    "spouse_home_deed",
    "parents_home",
    "child_school_certificate",
    "utility_bill",
    "local_council_confirmation",
    "rural_or_endowment_sale_deed",
    "nomad_affairs_letter",
    "employer_letter",
    "company_gazette",
    "company_branch",
    "plate_address",
]
Utility = Literal["water", "electricity", "gas"]
Holder = Literal["owner", "spouse", "parent"]


class ResidenceProof(Strict):
    """Which proof of residence a document is, and what its conditions need (seed 004)."""

    type: ResidenceType
    """One of the seed's proofs; see the table of kinds in docs/domain.md."""
    holder: Holder | None = None
    """In whose name the deed, lease or licence is, where the seed names one: the owner whose
    residence is proved (a transfer's buyer), «به نام مالک»; the owner's spouse, «بنام همسر
    مالک»; a parent, «بنام پدر یا مادر» (judged with ``strict``)."""
    utility_bill: Utility | None = None
    """The water, electricity or gas bill that confirms the address (deeds, a business licence)."""
    tracking_code: Code | None = None
    """A lease's tracking code («کد رهگیری»)."""
    real_estate_system_confirmed: bool = Field(default=False, strict=True)
    """A lease is confirmed by the national real-estate system («سامانه املاک و مستغلات کشور»)."""
    parent_document: Literal["deed", "lease"] | None = None
    """``parents_home``: the parent's document is a deed (then ``utility_bill``) or a lease (then
    ``tracking_code`` and ``real_estate_system_confirmed``), «برابر بند ۱ و ۲»."""
    valid_until: Day | None = None
    """A business licence's validity («جواز کسب معتبر»): not before today."""
    states_address: bool = Field(default=False, strict=True)
    """The letter or certificate states the residence's (or the branch's) address («با ذکر آدرس»)."""
    confirmed_by_authority: bool = Field(default=False, strict=True)
    """Confirmed or stamped by the authority the seed names for this proof (see its conditions)."""
    matches_birth_certificate_place: bool = Field(default=False, strict=True)
    """A local council's confirmation matches where the birth certificate was issued."""
    employer_sector: Literal["government", "armed_forces"] | None = None
    """An employer's letter is only for government staff and the armed forces."""
    gazette_published_on: Day | None = None
    """A company's official gazette entry: at most ``policy.RESIDENCE_GAZETTE_MAX_AGE_YEARS`` old."""
    in_county_of_registration: bool = Field(default=False, strict=True)
    """A company's address lies in the county where it is registered («شهرستان محل ثبت شرکت»)."""


@dataclass(frozen=True)
class ResidenceRule:
    """A proof of residence the seed accepts, with what it needs."""

    label_fa: str
    seed_words: str
    needs: tuple[str, ...] = ()
    """``ResidenceProof`` fields that must be given (or true)."""
    never: str | None = None
    """Why this "proof" is never enough on its own."""
    holder: str | None = None
    """In whose name the seed requires the document (``ResidenceProof.holder``), or ``None``."""


_BILL = "utility_bill"
_LEASE = ("tracking_code", "real_estate_system_confirmed")

RESIDENCE_PROOFS: dict[str, ResidenceRule] = {
    "owned_home_deed": ResidenceRule(
        "سند مالکیت منزل مسکونی به نام مالک با فیش آب، برق یا گاز",
        "ارائه سند مالکیت منزل مسکونی به نام مالک وسیله نقلیه به همراه یک فیش (آب، برق یا گاز) که موید آدرس مربوطه باشد",
        (_BILL,),
        holder="owner",
    ),
    "registered_lease": ResidenceRule(
        "سند اجاره با کد رهگیری و تأیید سامانه املاک",
        "ارائه سند اجاره منزل مسکونی به نام مالک وسیله نقلیه با کد رهگیری و تائیدیه از سامانه املاک و مستغلات کشور",
        _LEASE,
        holder="owner",
    ),
    "business_licence": ResidenceRule(
        "جواز کسب معتبر به نام مالک با فیش آب، برق یا گاز",
        "ارائه جواز کسب معتبر به نام مالک به همراه یک فیش (آب، برق یا گاز) که موید آدرس محل سکونت خریدار باشد",
        ("valid_until", _BILL),
        holder="owner",
    ),
    "spouse_home_deed": ResidenceRule(
        "سند مالکیت به نام همسر با فیش آب، برق یا گاز",
        "ارائه سند مالکیت واحد مسکونی بنام همسر مالک وسیله نقلیه به همراه یک فیش (آب، برق یا گاز) که موید آدرس مربوطه باشد",
        (_BILL,),
        holder="spouse",
    ),
    "parents_home": ResidenceRule(
        "سند (ملکی یا استیجاری) به نام پدر یا مادر",
        "در صورت ادعای سکونت مالک در منزل والدین، ارائه سند (استیجاری، ملکی) بنام پدر یا مادر برابر بند ۱ و ۲",
        ("parent_document",),
        holder="parent",
    ),
    "child_school_certificate": ResidenceRule(
        "گواهی اشتغال به تحصیل فرزندان با آدرس والدین، تأییدشده آموزش و پرورش",
        "ارائه گواهی اشتغال به تحصیل فرزندان با ذکر آدرس محل سکونت والدین که به تائید آموزش و پرورش منطقه رسیده باشد",
        ("states_address", "confirmed_by_authority"),
    ),
    "utility_bill": ResidenceRule(
        "فیش آب، برق یا گاز (مدرک تکمیلی)",
        "اصل فیش آب، برق یا گاز به تاریخ روز و به نام متقاضی (بعنوان مدارک تکمیلی)",
        never="a utility bill is only supplementary («بعنوان مدارک تکمیلی»): give it as utility_bill beside a deed or licence",
    ),
    "local_council_confirmation": ResidenceRule(
        "تأییدیه شورای محل یا روستا",
        "تائیدیه معتبر ممهور به مهر شورای محل/ روستا، مطابق محل صدور شناسنامه",
        ("confirmed_by_authority", "matches_birth_certificate_place"),
    ),
    "rural_or_endowment_sale_deed": ResidenceRule(
        "فروشنامه منزل در زمین اوقافی یا روستایی، تأییدشده شورای اسلامی",
        "فروشنامه منزل مسکونی مربوط به زمین های اوقافی، روستایی که به تایید شورای اسلامی محل رسیده باشد",
        ("confirmed_by_authority",),
    ),
    "nomad_affairs_letter": ResidenceRule(
        "نامه رسمی امور عشایر",
        "نامه های رسمی از ادارات عشایر و امور روستائی سازمان جهاد کشاورزی (عشایر)",
    ),
    "employer_letter": ResidenceRule(
        "معرفی‌نامه محل خدمت (کارکنان دولت و نیروهای مسلح)",
        "ارائه معرفی نامه از اداره محل خدمت (ویژه کارکنان دولت و نیروهای مسلح) با ذکر آدرس محل سکونت کارکنان مذکور و تائید توسط واحد مربوطه",
        ("employer_sector", "states_address", "confirmed_by_authority"),
    ),
    "company_gazette": ResidenceRule(
        "اساسنامه و روزنامه رسمی شرکت (حداکثر دو سال)",
        "بر اساس اساسنامه و روزنامه های رسمی که حداکثر دو سال از تاریخ ثبت روزنامه نگذشته باشد و همچنین بر اساس شهرستان محل ثبت شرکت با ذکر آدرس دقیق محل فعالیت",
        ("gazette_published_on", "in_county_of_registration", "states_address"),
    ),
    "company_branch": ResidenceRule(
        "شعبه شرکت، تأییدشده اداره ثبت شرکت‌های شهر",
        "بر اساس مندرجات اساسنامه و روزنامه رسمی آنها با ذکر آدرس دقیق محل شعبه پس از تائید توسط اداره ثبت شرکتهای شهر مورد نظر",
        ("states_address", "confirmed_by_authority"),
    ),
    "plate_address": ResidenceRule(
        "آدرس ثبت‌شده در سامانه به جهت پلاک",
        "صرف داشتن آدرس در سامانه به جهت پلاک نصبی یا آزاد امانی دلیلی بر احراز محل سکونت مالک نمی باشد",
        never="an address the system holds because of a plate never proves residence "
        "(«صرف داشتن آدرس در سامانه به جهت پلاک نصبی یا آزاد امانی دلیلی بر احراز محل سکونت مالک نمی باشد»)",
    ),
}
"""Every proof of residence seed 004 lists, in its order, with what each needs."""

_PARENT_NEEDS = {"deed": (_BILL,), "lease": _LEASE}


def residence_problems(proof: ResidenceProof | None, today: date, *, strict: bool = False) -> list[str]:
    """Why ``proof`` does not prove residence (seed 004), or nothing; ``today`` in Tehran.

    ``strict`` (cases started under ``PLATE_REVIEW``) also asks the holder the seed names, refuses
    a date in the future and any field foreign to the proof's type."""
    if proof is None:
        kinds = ", ".join(RESIDENCE_PROOFS)
        return [f"a proof of residence must name its type (residence.type: one of {kinds}) and carry what its conditions need"]
    rule = RESIDENCE_PROOFS[proof.type]
    if rule.never:
        return [rule.never]
    needs = rule.needs + (_PARENT_NEEDS.get(proof.parent_document or "", ()) if proof.type == "parents_home" else ())
    problems = [f"a {proof.type} needs residence.{name} («{rule.seed_words}»)" for name in needs if not getattr(proof, name)]
    if strict:
        problems += _strict_problems(proof, rule, needs, today)
    if proof.valid_until is not None and proof.valid_until < today:
        problems.append(f"the business licence expired on {proof.valid_until} («جواز کسب معتبر»)")
    published = proof.gazette_published_on
    if published is not None and add_jalali_years(published, policy.RESIDENCE_GAZETTE_MAX_AGE_YEARS) < today:
        problems.append(
            f"the official gazette of {published} is more than {policy.RESIDENCE_GAZETTE_MAX_AGE_YEARS} years old "
            "(«حداکثر دو سال از تاریخ ثبت روزنامه نگذشته باشد»)"
        )
    return problems


def _strict_problems(proof: ResidenceProof, rule: ResidenceRule, needs: tuple[str, ...], today: date) -> list[str]:
    problems: list[str] = []
    if rule.holder is not None and proof.holder != rule.holder:
        problems.append(
            f"a {proof.type} must be in the {rule.holder}'s name: residence.holder {rule.holder!r} («{rule.seed_words}»)"
        )
    allowed = {"type", *needs, *(("holder",) if rule.holder else ())}
    given = proof.model_dump(exclude_defaults=True)
    foreign = sorted(name for name in given if name not in allowed)
    if foreign:
        problems.append(f"a {proof.type} does not take residence.{', residence.'.join(foreign)} (fields of other proofs)")
    if proof.gazette_published_on is not None and proof.gazette_published_on > today:
        problems.append(f"the official gazette's date {proof.gazette_published_on} is in the future")
    return problems
