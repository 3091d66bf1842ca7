"""Every policy number of the project, named, with the seed it comes from.

Seeds live in ``shared/seeds/``; ``DOMAIN.md`` restates them in English. When a seed and a
number here disagree, the seed wins: fix the number here and nowhere else.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from fractions import Fraction

# --- Input bounds (ours: the seeds name none) ---

MAX_RIAL = 10**15
"""Our bound on any rial amount a command carries (a thousand trillion rials, far above any car or
fee): a 40-digit amount is refused by the validator, never handed to a database column."""

MAX_EUR = 10**9
"""Our bound on any EUR amount a command carries (a billion euros, far above any car order)."""

MIN_YEAR, MAX_YEAR = 1900, 2100
"""Our bound on the year of any date a command carries: a year 9999 would overflow the deadlines
computed from it, and no proforma, delivery or newspaper date lies outside this range."""

MAX_CHOICES = 10
"""Our bound on the values of one multi-valued field (entry borders, customs, shipping methods of
a file with multiple shipments)."""

MAX_GOODS_LINES = 50
"""Our bound on the goods lines one edit or copied file carries (a veteran's order is one car)."""

MAX_DOCUMENTS = 50
"""Our bound on the documents a copied file carries."""

MAX_QUANTITY = 1_000
"""Our bound on one goods line's quantity."""

# --- Activity failures (ours) ---

ACTIVITY_ALERT_AFTER_ATTEMPTS = 5
"""A retrying activity writes one operator alert to the outbox from this attempt on (with the
lifecycles' retry policy, some 15 seconds after its first failure); our choice."""

WORKER_CONNECT_PATIENCE_SECONDS = 60
"""How long a starting worker keeps trying to reach Temporal (a server restarting, a frontend not
up yet) before it exits saying why; our choice."""

ACTIVITY_INTEGRITY_ATTEMPTS = 3
"""Attempts a database integrity error gets before it is refused for good: a concurrent attempt of
the same idempotent step may have written the row, and the next attempt finds it; our choice."""

# --- Trade-order registration: seed 003_e31f3f46ba2dcbd4 (§13 "آماده پرداخت کارمزد") ---

FEE_WINDOW = timedelta(days=15)
"""«برای پرداخت کارمزد فقط ۱۵ روز فرصت دارید» — unpaid after this, the file returns to New."""

FEE_DIVISOR = Decimal(2000)
"""Fee = rial equivalent of the order total ÷ 2000 (opening, renewal; edit charges the difference)."""

FEE_MINIMUM_EUR = Decimal(100)
"""«حداقل مبلغ کارمزد ... معادل ریالی ۱۰۰ یورو» for opening, renewal and edit."""

ORDER_NUMBER_DIGITS = 8
"""«شماره هشت رقمی ثبت سفارش»."""

BANK_SYSTEM_PRIORITY_GROUPS = range(21, 28)
"""Currency bought from the banking system only for goods in priority groups 21–27 (§3); a tariff
naming no group is not in them."""

TARIFF_LISTED_CURRENCY_SOURCES = frozenset({"own_currency", "others_currency", "others_exports"})
"""«از محل ارز خود، از محل ارز دیگران و از محل صادرات دیگران ... تنها برای تعرفه های مشخصی قابل
انتخاب است» (seed 003 §3): open only to the tariffs whose reference data lists them."""

MAX_CATALOGUE_ENTRIES = 2_000
"""Our bound on the goods catalogue a trade-order case carries (veterans'-car tariffs and goods ids
with an agency, seed 003 «تنها شناسه کالاهایی نمایش داده میشود که نمایندگی ... دریافت شده باشد»):
past it the case carries none and the rules inquiry alone checks goods."""

FILE_WORK = frozenset({"save_main_info", "save_transport", "save_financials", "add_goods", "attach_document", "edit"})
"""The updates that fill in and edit a trade-order file («ویرایش پرونده», seed 003): what every access
level below allows."""

ACCESS_LEVELS: dict[str, frozenset[str]] = {
    "edit": FILE_WORK,
    "full": FILE_WORK | {"submit", "inquire_rules", "request_permits", "withdraw_permit_requests", "request_registration"},
}
"""«تغییر سطح دسترسی» (seed 003 §8): the applicant lets another user (e.g. a customs broker) act on
the file. The seed names no levels; ours: ``edit`` fills in and edits the file («ویرایش پرونده»),
``full`` also takes it through submit, inquiry, permits and the order request. Voiding the file
and changing access stay the applicant's own."""

MAX_ACCESS_GRANTS = 10
"""Our bound on the users one file's access is granted to."""

SEA_ONLY_METHODS = frozenset({"sea"})
"""Shipping methods of the Incoterms for sea and inland waterway transport only (ours, from Incoterms 2020)."""

ANY_METHOD = frozenset({"sea", "road", "rail", "air", "multimodal"})
"""Shipping methods of the Incoterms for any mode of transport (ours, from Incoterms 2020)."""

INCOTERM_SHIPPING_METHODS: dict[str, frozenset[str]] = {
    **dict.fromkeys(("FAS", "FOB", "CFR", "CIF"), SEA_ONLY_METHODS),
    **dict.fromkeys(("EXW", "FCA", "CPT", "CIP", "DAP", "DPU", "DDP"), ANY_METHOD),
}
"""The contract types (نوع قرارداد) and the shipping methods each allows: «روشهای حمل قابل انتخاب
برای هر نوع قرارداد با توجه به شرایط قراردادی آن قرارداد مشخص میگردد» (seed 003 §2). The seed
gives no table; ours follows Incoterms 2020, whose FAS, FOB, CFR and CIF are for sea (and inland
waterway) transport only and the other seven for any mode."""

CENTRAL_BANK_ID = "CBI"
"""The central bank's id (its ``bank`` token's ``sub``; ours): «خرید ارز از سیستم بانکی ... باید
توسط بانک مرکزی تخصیص ارز را دریافت کنند» (seed 003 §3)."""

# --- Imported-car purchase: seed 001_f8898b590ca0d58d, withdrawal seed 000_a1c0c16ba933df50 ---

ESCROW_DEPOSIT_RIAL = 5_000_000_000
"""500 million toman blocked in the applicant's escrow account (seed 001)."""

NO_NEW_CAR_LOOKBACK_MONTHS = 48
"""No new car bought «طی ۴۸ ماه گذشته» (seed 001): 48 Jalali calendar months back from the check."""

DELIVERY_MONTHS_AFTER_FINAL_PAYMENT = 1
"""«ظرف مدت حداکثر یک ماه خودرو را تحویل دهد» (seed 001): one Jalali calendar month after stage 3."""

DELAY_PENALTY_PERIOD_MONTHS = 1
"""«جریمه ماهانه» (seed 001): each started Jalali calendar month of delay counts."""

DELAY_PENALTY_RATE = Decimal("0.057")
"""«جریمه ماهانه ۵.٧ درصدی (نسبت به قیمت خودرو)» (seed 001), figure as printed."""

CANCEL_FOR_DELAY_AFTER_MONTHS = 3
"""«تاخیر بیش از سه ماه» (seed 001): strictly more than three Jalali calendar months late."""

CANCELLATION_PENALTY_RATE = Decimal("0.05")
"""«پنج درصد جریمه فسخ قرارداد به مشتری» (seed 001)."""

WITHDRAWAL_PENALTY_RATE = Decimal("0.05")
"""Withdrawal after the final contract: 5% of the base price to the importer (seed 001)."""

DEPOSIT_RELEASE_WORKING_HOURS = 72
"""«در صورت انصراف از طرح مبلغ شما در ۷۲ ساعت کاری آینده قابل برداشت خواهد بود» (seed 000): the
deposit is released within 72 working hours; Fridays, official holidays and declared closures do
not count (the hours of working days count whole, around the clock: our reading)."""

WORKING_DEADLINE_HORIZON_DAYS = 366
"""How far ahead closures are read for a working-hour deadline, far past 72 working hours; ours."""

DEPOSIT_RELEASE_WINDOW = timedelta(hours=72)
"""Earlier builds: «تا 72 ساعت بعد» (seed 000) as 72 clock hours; only cases they started still
count it, and the overdue alert of those cases names it."""

TITLE_TRANSFER_LOCK_YEARS = 1
"""«امکان انتقال سند خودرو به مدت یک سال از زمان خرید وجود ندارد» (seed 001): one Jalali calendar
year from delivery, to the same Tehran day and time."""

WITHDRAWAL_CODE_DIGITS = 6
"""The SMS confirmation code of a withdrawal (seed 000 describes the code; its length is ours)."""

WITHDRAWAL_CODE_TTL = timedelta(minutes=10)
"""How long an SMS code stays valid (seed 000 is silent; ten minutes is the usual OTP life)."""

WITHDRAWAL_CODE_MAX_ATTEMPTS = 5
"""Wrong codes accepted before the code is burnt (seed 000 is silent; our choice)."""

REINSTATEMENT_WINDOW = timedelta(days=30)
"""How long a withdrawn case stays open for the operator to reinstate a mistaken withdrawal.
Seed 000 tells of 4,260 mistaken withdrawals reinstated weeks later («نوبت‌های حذف شده را به
حالت اول بازگرداند»); the window's length is our choice."""

RECONCILIATION_INTERVAL = timedelta(minutes=15)
"""How often the registry's holds (open registrations, allocations, blocked deposits) of closed
cases are looked for and released (workflows/reconciliation.py); our choice, well inside the
72-hour deposit release window of seed 000."""

STAGE3_PAYMENT_MONTHS = 1
"""The buyer's deadline to pay stage 3 after the importer's invitation from customs, in Jalali
calendar months: seed 001 names none («پس از ورود خودرو به گمرک، واردکننده نسبت به ارسال دعوتنامه
اقدام خواهد کرد»), so this is ours, as long as the importer's own month after it. Its consequence
(ours): the buyer who lets it pass has left the contract, as a withdrawal after the final contract
(«انصراف از معامله در صورت انعقاد قرارداد نهایی»): 5% of the base price to the importer, the rest
of what was paid, with any delay penalty accrued, back within the 72 working hours."""

# --- Plates: seed 004_deeca06ae7fe51fe ---

WORN_OUT_AGE_YEARS_PLATES = {
    "truck": 25,
    "tractor_unit": 25,
    "passenger_car": 20,
    "minibus": 15,
    "intercity_bus": 15,
    "pickup": 15,
    "government_car": 15,
    "taxi": 10,
    "city_bus": 10,
    "motorcycle": 10,
}
"""Worn-out ages by vehicle kind, as seed 004 lists them for numbering."""

IMPORT_BAN_AGE_YEARS = {"passenger_car": 1, "truck": 2, "bus": 2, "chassis": 2}
"""Import bans: passenger cars cleared more than 1 year after production, trucks/buses/chassis 2
(seed 004), in Jalali calendar years from ``production_date`` to ``customs_cleared_on``."""

HISTORIC_PRECIOUS_MIN_AGE_YEARS = 50
"""Historic «نفیس»: more than 50 years old (seed 004)."""

HISTORIC_UNIQUE_MIN_AGE_YEARS = 25
"""Historic «قدیمی و منحصر به فرد»: more than 25 years old and unique (seed 004)."""

VETERAN_MIN_DISABILITY_PERCENT = 50
"""Veteran plates need a veteran card of 50% or more (seed 004)."""

DUPLICATE_OWNERSHIP_DOC_NOTICE_WAIT = timedelta(days=10)
"""Duplicate ownership document: newspaper notice, then more than 10 days (seed 004)."""

WORN_OUT_AGE_YEARS_PLATES_EXTRA = {"light_truck": 25}
"""«کامیونت» (light truck) sits with trucks at 25 years in seed 004's worn-out list."""

DISABILITY_DEGREES_QUALIFYING = frozenset({"medium", "severe", "very_severe"})
"""Disability cards that earn a disabled plate: «متوسط؛ شدید؛ خیلی شدید» (seed 004)."""

VETERAN_PLATE_VEHICLE_KINDS = frozenset({"passenger_car"})
"""«پلاک جانبازی یا معلولین فقط به وسایل نقلیه از نوع سواری» (seed 004)."""

PLATE_FEE_RIAL = {
    "imported": 20_000_000,
    "auction": 20_000_000,
    "temporary_transit": 10_000_000,
    "historic": 30_000_000,
    "veteran": 20_000_000,
}
"""Plate fee by numbering category. Seed 004 says «پرداخت وجه پلاک مطابق تعرفه» but gives no
tariff: these amounts are our choice (same order as the real tariff), to be set from it."""

PLATE_TRANSFER_FEE_RIAL = 20_000_000
"""Plate fee of a transfer (seed 004 «فیش پرداخت بهای پلاک بر اساس تعرفه»; amount our choice)."""

PLATE_SERVICE_FEE_RIAL = {
    "duplicate_vehicle_card": 5_000_000,
    "duplicate_ownership_document": 5_000_000,
    "lost_or_stolen_plates": 20_000_000,
    "damaged_plates": 20_000_000,
}
"""Fees of the after-numbering services that seed 004 says are paid by tariff (duplicate card,
lost/damaged plates); it lists no payment for part changes or scrapping, so those have none.
The duplicate ownership document's fee is our choice (the seed is silent; real centres charge).
Amounts are our choice where the seed gives no tariff."""

PLATE_LETTERS_PRIVATE = "بجدسصطقلمنوهی"
"""Letters of the ordinary private plate series (seed 004 is silent on letters; the real series)."""

PLATE_LETTERS_VETERAN = "ژ"
"""Veterans' and disabled people's plates carry «ژ», as in the real system (seed 004 is silent)."""

PLATE_DEFAULT_REGION_CODE = "11"
"""Region code when a case names none: Tehran, whose «مرکز تعویض پلاک میثم» seed 004 names."""

FORBIDDEN_COLOURS = frozenset({"taxi_yellow", "taxi_green", "military_green", "military_khaki", "police"})
"""Colour codes a colour change may not take: seed 004 bans armed-forces and taxi colours
(«بجز رنگ خودروهای نیروهای مسلح و تاکسی»); the codes naming those colours are ours."""

RESIDENCE_GAZETTE_MAX_AGE_YEARS = 2
"""A company's official gazette proves its address for at most two Jalali years (seed 004
«حداکثر دو سال از تاریخ ثبت روزنامه نگذشته باشد»)."""

MAX_CENTRES_CARRIED = 200
"""Numbering centres a case carries from the reference data (the ones that may number it): a
bound on the case's state (our choice; the country has a few hundred centres)."""

# --- Plate services added by issue 9: seed 004_deeca06ae7fe51fe («دانستنی های شماره گذاری») ---

ARTICLE_30_FINE_MIN_SHARE, ARTICLE_30_FINE_MAX_SHARE = Fraction(1, 8), Fraction(1, 4)
"""The ماده ۳۰ fine for a main part or the colour changed without a permit: «ملزم به پرداخت جریمه
(یک چهارک تا یک هشتم) قیمت قطعه و یا رنگ تغییر یافته» (seed 004), i.e. between 1/8 and 1/4 of
the price of the part or paint the officer recorded, as the appeal unit decides. In whole rials:
at least ⌈price/8⌉, at most ⌊price/4⌋."""

ARTICLE_30_APPEAL_UNIT_ROLE = "expert"
"""Who sets the ماده ۳۰ fine: seed 004's «واحد رسیدگی به اعتراضات» (the appeal unit). Our choice
among the contract's roles: ``expert`` (a reviewing body apart from the officer who recorded the
finding and from the owner; the contract has no role of its own for it)."""

HISTORIC_PERMIT_EVENTS = frozenset({"exhibition", "parade", "competition", "international_conference", "special_event"})
"""Events a historic car may be given a traffic permit for: «شرکت در مراسم خاص نظیر شرکت در
نمایشگاه ها، رژه های ویژه و ملی، مسابقات و همایش های بین المللی و ...» (seed 004); its «و ...»
is ``special_event`` (named in ``event_name``), our choice."""

HISTORIC_PERMIT_REFUSED_EVENTS = frozenset({"wedding", "ceremonial"})
"""Never a traffic permit: «بکارگیری و تردد خودروها با پلاک تاریخی تحت عنوان ماشین عروس، ماشین
تشریفات و ... ممنوع می باشد» (seed 004): a wedding car or a ceremonial car."""

HISTORIC_PERMIT_MAX_DAYS = 7
"""The most days one historic traffic permit covers, first and last day included. Seed 004 asks
the permit name its dates («با قید تاریخ و مسیر تردد») but bounds nothing: our choice."""

HISTORIC_PERMIT_MAX_LEAD_MONTHS = 3
"""How far ahead a historic traffic permit may be asked: its first day within three Jalali
months of the request (our choice; the seed is silent)."""

TRUCK_BODY_GROUPS = {
    "cargo": frozenset({"box", "dropside", "side_blade", "flatbed", "roofed", "refrigerated", "cargo_tank"}),
    "mixer_bunker_tipper": frozenset({"mixer", "bunker", "tipper"}),
}
"""Change of use (تغییر کاربری) only within a group: «کامیون (اتاق دار، لبه دار، تیغه دار، کفی، سقف
دار، یخچال دار، تانکر باری مخزنی و ...) و کامیون (میکسر، بونکر، کمپرسی) در داخل هر گروه به یکدیگر
با رعایت ضوابط فنی و استانداردهای ملی بلامانع می باشد» (seed 004). The seed's «و ...» of the
cargo group names no more bodies: only those it names are listed (our choice)."""

CHANGE_OF_USE_KINDS = frozenset({"truck", "light_truck"})
"""Vehicles whose use may change: seed 004's «وسایل نقلیه باربری» — «انواع کامیون ها و کامیونت ها»."""

CHANGE_OF_USE_FIXED = ("chassis_length_mm", "axles", "axle_positions_mm", "wheels", "capacity_kg")
"""What a change of use may never change: «هرگونه تغییر مانند افزایش یا کاهش طول شاسی، تعداد محور یا
چرخ، تغییر محل محورها و افزایش ظرفیت ... اکیدا ممنوع می باشد» (seed 004). The seed names a
capacity increase; «هرگونه تغییر» (any change) makes us refuse a decrease too (our reading)."""


# --- Fuel card: seed 002_5f5d7fd182bbe256 ---

FUEL_QUOTA_LITRES_PER_MONTH = {
    "private_petrol": 60,
    "private_dual_fuel": 30,
    "taxi_petrol": 400,
    "taxi_dual_fuel": 200,
    "motorcycle": 25,
    "pickup_low_consumption_petrol": 200,
    "pickup_low_consumption_dual_fuel": 60,
    "pickup_high_consumption_petrol": 300,
    "pickup_high_consumption_dual_fuel": 120,
    "ambulance": 500,
}
"""Monthly quota by use (seed 002)."""

WORN_OUT_AGE_YEARS_FUEL = {
    "private_car": 25,
    "government_car": 15,
    "taxi": 10,
    "minibus": 15,
    "city_bus": 10,
    "intercity_bus": 15,
    "tractor_unit": 15,
    "pickup": 15,
    "motorcycle": 10,
    "other": 25,
}
"""Worn-out ages for fuel cards (seed 002; differs from seed 004's table, each applies to its own)."""

# --- Fixed-length months of earlier builds: seed 001 (cases started before CALENDAR_MONTHS replay with them) ---

MONTH = timedelta(days=30)
"""Earlier builds counted seed 001's months as 30 days; only cases they started still do."""

DELIVERY_WINDOW_AFTER_FINAL_PAYMENT = timedelta(days=30)
"""Earlier builds: «یک ماه» (seed 001) as 30 days after stage 3."""

DELAY_PENALTY_PERIOD = timedelta(days=30)
"""Earlier builds: the monthly delay penalty (seed 001) per started 30-day period."""

CANCEL_FOR_DELAY_AFTER = timedelta(days=90)
"""Earlier builds: «تاخیر بیش از سه ماه» (seed 001) as more than 90 days."""

TITLE_TRANSFER_LOCK = timedelta(days=365)
"""Earlier builds: the one-year title lock (seed 001) as 365 days."""

# --- Temporal's limits on one run of a case (ours, below the server's defaults) ---

CONTINUE_AS_NEW_AFTER_EVENTS = 10_000
"""Our bound on a run's history events before the case continues as new, carrying its state: the
server warns at 10,240 events and terminates at 51,200 (or 50 MB)."""

AUDIT_SWEEP_LOOKBACK = timedelta(days=3)
"""Ours: how far back each reconciliation looks for cases closed by hand (terminated, timed out)
whose waiting audit rows it writes; far beyond its 15-minute interval, so an outage of the schedule
of up to three days misses none."""

AUDIT_ROWS_WAITING_MAX = 10
"""Ours: the transitions a case lets wait for its next activity to carry their audit rows; at this
many the main loop writes them with an activity of their own (``workflows.audit_rides``)."""

CONTINUE_AS_NEW_AFTER_UPDATES = 1_000
"""Our bound on the commands one run accepts: the server refuses updates past 2,000 per run."""

# --- Import scheme: registration window, eligibility batch, lottery (seed 001_f8898b590ca0d58d) ---

SCHEME_ELIGIBILITY_CHUNK = 10_000
"""Registrations one activity of the eligibility batch judges in one statement («پس از پایان مهلت
ثبت‌نام ... متقاضیان حائز شرایط ... پالایش شده»); ours: a chunk well inside an activity's timeout."""

SCHEME_RANK_WRITE_CHUNK = 10_000
"""Ranks written per multi-row INSERT by the draw (ours)."""

SCHEME_DRAW_TIMEOUT_SECONDS = 600
"""How long the one activity that draws and writes every rank may take (ours; it runs in one
transaction, so the ranking is published whole or not at all)."""

REGISTRATION_CODE_LENGTH = 10
"""Characters of a registration's public code (کد رهگیری; ours): 10 of 32 letters and digits, so
codes of 100,000 registrations collide with odds below 1 in 200,000 (a unique index decides)."""

# --- Domestic integrated sales order: seed 000 ---

DOMESTIC_DELIVERY_YEARS = (1402, 1403)
"""The Jalali delivery years an order's priority names (seed 000: «امکان تخصیص آنها در سال 1402»,
«نوبت (اولویت) تخصیص آنها به سال 1403 موکول شده است»)."""

DOMESTIC_DEFAULT_PRIORITY_YEAR = 1403
"""«در صورتی که متقاضی هیچ اولویتی را ... انتخاب نکرده باشد، برای وی اولویت سال 1403 در نظر گرفته
می شود» (seed 000): an order without a chosen car holds the 1403 priority."""

DOMESTIC_CHANGE_OPEN_FOR_YEAR = 1403
"""«امکان تغییر خودروی انتخابی برای خودروهایی که تحویل آنها در سال 1403 انجام می شود وجود دارد»
(seed 000): only an order due in 1403 may be cancelled to choose again during a change window."""

DOMESTIC_LOW_DEMAND_YEAR = 1402
"""«امکان تغییر اولویت بندی با پنج مدل دیگری که تقاضا برای آنها کمتر است ... تا در سال 1402 بتوانند
خودروی خود را تحویل بگیرند» (seed 000): a change may take one of the scheme's models offered for 1402."""

DOMESTIC_CHANGE_WINDOW_EXAMPLE = ((1402, 2, 5), (1402, 2, 11))
"""Seed 000's change window, Jalali (year, month, day) of its first day and of the first day after
it, 00:00 Tehran: «از تاریخ 5 اردیبهشت» «تا روز یکشنبه، دهم اردیبهشت ماه ساعت 24» (after the
extension). Windows are data an operator opens (``DomesticScheme.open_change_window``); this one is
the tests' example of the edges."""

DOMESTIC_RESTORED_WINDOW_EXAMPLE = ((1402, 2, 5), (1402, 2, 9))
"""Seed 000's window for applicants restored after a mistaken withdrawal: «تا روز جمعه مصادف هشتم
اردیبهشت می توانستند خودروی خود را تغییر دهند», to the end of Friday 8 Ordibehesht (its start is
ours: the general window's)."""

DOMESTIC_RESTORE_WINDOW = timedelta(days=30)
"""How long a withdrawn domestic order stays open for the operator to restore a mistaken
withdrawal with the same turn (seed 000: «نوبت های حذف شده را به حالت اول بازگرداند»; «سهمیه این
افراد به کسی داده نخواهد شد»); the length is ours, as ``REINSTATEMENT_WINDOW``."""

DOMESTIC_WITHDRAWAL_RELEASE_WORKING_HOURS = DEPOSIT_RELEASE_WORKING_HOURS
"""«در صورت انصراف از طرح مبلغ شما در ۷۲ ساعت کاری آینده قابل برداشت خواهد بود» (seed 000)."""

DOMESTIC_MISTAKEN_WITHDRAWALS = 4_260
"""«تعداد 4260 نفر اشتباهها گزینه انصراف ... را انتخاب کرده بودند» (seed 000): the scale of restores."""

DOMESTIC_CHANGED_ORDERS = 170_000
"""«تعداد 170 هزار نفر پروفایل خود را ویرایش نموده اند» (seed 000): the scale of one window's changes."""

DOMESTIC_OFFERINGS_MAX = 100
"""Offerings one domestic scheme lists (ours; the seed speaks of «نزدیک به 50 نوع محصول مختلف»)."""

# --- Fuel cards: seed 002 ---
# The seed's quota table and worn-out ages stay above (FUEL_QUOTA_LITRES_PER_MONTH,
# WORN_OUT_AGE_YEARS_FUEL): their one place. Migration 0014 copies them (and the figures below)
# into dated reference data; later changes are new dated rows, not edits here.

FUEL_CARRY_OVER_MONTHS = 9
"""«سهمیه بنزین برای هر کارت تا ۹ ماه باقی می ماند» (seed 002): a balance holds at most nine
months of the card's quota."""

FUEL_CARRY_OVER_CAP_LITRES_EXAMPLES = {"private_petrol": 540, "motorcycle": 225}
"""«که برای خودرو و موتور به ترتیب برابر با ۵۴۰ و ۲۲۵ لیتر است» — the seed's caps, 540 L for a car and
225 L for a motorcycle: nine months of 60 L and of 25 L. The cap of every use is nine of its months
(``lifecycles.fuel_cards.carry_over_cap_litres``); these are the seed's two checks of that rule."""

FUEL_HEAVY_QUOTA_LITRES_PER_CHARGE = {
    "minibus": 300,
    "city_bus": 600,
    "intercity_bus": 900,
    "truck": 1_000,
}
"""Heavy vehicles' litres per charge («کارت سوخت خودروهای سنگین هر دو هفته یکبار شارژ می شود», seed
002). The seed names no litres for them: these uses and figures are ours, placeholders an operator
replaces with dated reference data."""

FUEL_HEAVY_CHARGES_PER_MONTH = 2
"""«هر دو هفته یکبار» (seed 002): ours, read as the two halves of a Jalali month (from day 1 and from
day 16, Tehran), so a heavy vehicle is charged exactly twice a month."""

FUEL_HEAVY_SECOND_HALF_STARTS_ON_DAY = 16
"""The Jalali day of the month the second heavy-vehicle charge period starts (ours)."""

FUEL_WORN_OUT_CLASS_BY_USE = {
    "private_petrol": "private_car",
    "private_dual_fuel": "private_car",
    "taxi_petrol": "taxi",
    "taxi_dual_fuel": "taxi",
    "motorcycle": "motorcycle",
    "pickup_low_consumption_petrol": "pickup",
    "pickup_low_consumption_dual_fuel": "pickup",
    "pickup_high_consumption_petrol": "pickup",
    "pickup_high_consumption_dual_fuel": "pickup",
    "ambulance": "other",
    "minibus": "minibus",
    "city_bus": "city_bus",
    "intercity_bus": "intercity_bus",
    "truck": "tractor_unit",
}
"""Which row of seed 002's worn-out table («کارت سوخت خودروهای فرسوده») a card's use falls under
(ours: the seed lists uses and worn-out classes separately; «سایر وسائل نقلیه» is ``other``)."""

RIAL_PER_TOMAN = 10
"""A toman is ten rials; the registry keeps rials."""

FUEL_PRICE_TOMAN_PER_LITRE = {"quota": 1_500, "free": 3_000, "super": 3_500}
"""«بنزین سهمیه ای هر لیتر ۱۵۰۰ تومان، بنزین آزاد هر لیتر ۳۰۰۰ تومان، بنزین سوپر هر لیتر ۳۵۰۰ تومان»
(seed 002); stored as rials per litre (× ``RIAL_PER_TOMAN``) in dated reference data. Super is
sold at its own price and never from the quota (our reading: the seed prices quota petrol only)."""

FUEL_SEED_FIGURES_EFFECTIVE_FROM = (1398, 8, 24)
"""The Jalali day (00:00 Tehran) from which the seed's quotas and prices are loaded as effective
(ours: the seed gives no date; 24 Aban 1398 is when the 1,500/3,000 toman prices began)."""

FUEL_CHARGE_CHUNK_CARDS = 20_000
"""Cards one statement of the charge cycle charges (ours: a chunk commits in well under a second
on PostgreSQL, so a crash loses little and a retry resumes after the last chunk)."""

FUEL_CHARGE_ACTIVITY_TIMEOUT = timedelta(hours=6)
"""How long the one activity charging every card may run (ours: 25 million cards at the benchmark's
rate with a wide margin)."""

FUEL_CHARGE_HEARTBEAT_TIMEOUT = timedelta(minutes=2)
"""A charge activity silent for this long is presumed crashed and retried from its last chunk (ours)."""

FUEL_CHARGE_PROGRESS_EVERY = timedelta(seconds=30)
"""How often the charge workflow refreshes its progress line in the UI (ours)."""

FUEL_CHARGE_SCHEDULE_EVERY = timedelta(hours=1)
"""How often the Schedule starts the charge workflow (ours): the first run of a period charges it,
later runs find it done at once, so a period starts within an hour of Tehran midnight."""

FUEL_PURCHASE_MAX_LITRES = 2_000
"""Largest single station transaction accepted (ours: an input limit above any tank)."""

DOMESTIC_RECOMPUTE_TIMEOUT = timedelta(minutes=10)
"""How long the one activity recomputing a stage's turns may take (ours: 170,000 orders in one
statement on PostgreSQL take seconds; see bench/domestic_bench.py)."""

SCHEME_WAKE_CHUNK = 1_000
"""Purchase cases one activity tells that their round's verdict and rank are in the registry (ours)."""

SCHEME_WAKE_CONCURRENCY = 50
"""Signals that activity has in flight at once (ours: the frontend's rate, not the registry's)."""

# --- import offerings (issue 10 item 4; the offerings helper adds below this line) ---

OFFERING_ONE_APPLICATION_AT_A_TIME = True
"""An applicant holds one live application (applied, or a seat won and not yet signed or given up)
across all offerings at a time (ours: seed 001 lets «تمام متقاضیان حائز شرایط» apply to each
offering «طی مدت معینی» and names the buyers «به ترتیب نوبت», silent on several at once; one at a
time keeps a high rank from holding seats in several offerings that lower ranks would have had).
Enforced by the partial unique index ``uq_offering_applications_live`` (migration 0016). Once an
offering closes without a seat for the applicant, the application stops being live: the rank is
kept for the next offering («نوبت آنها حفظ میشود»)."""

OFFERING_SEATS_MAX = 100_000
"""Largest number of cars (seats) one offering may propose (ours: an input limit; seed 001's
example offers 2,000 Changan CS55 Plus at once, «حداقل فروش ۱۰۰ هزار خودرو در یک بازه شش ماهه»)."""

OFFERING_WINDOW_MAX_DAYS = 90
"""Longest application window an offering may declare (ours: an input limit; seed 001 «طی مدت معینی که اعلام میشود»)."""

OFFERING_SIGN_DAYS = 7
"""Days a buyer named at an offering's close (or given a freed seat) has to sign the final contract
(ours: seed 001 is silent). A buyer who lets them pass loses the seat as a decline would, the rank kept."""

OFFERING_REASSIGN_MONTHS = 1
"""For one calendar month (Jalali, Tehran time) after an offering's close, a seat declined or not
signed in time passes to the next applicant of that offering by rank who is still eligible and
holds no other live application or car (ours: seed 001 names the buyers «به ترتیب نوبت» and is silent
on seats given back); after it, the offering is finished and a freed seat stays with the importer."""

OFFERINGS_KNOWN_MAX = 20
"""Open offerings of its round a purchase case reads from the registry when told of one (ours: a
bound on the case's state; those closing soonest are kept)."""

OFFERING_FAN_OUT_CHUNK = 1_000
"""Cases one activity signals (an offering's announcement, its buyers), a page per activity (ours)."""

OFFERING_CLOSE_TIMEOUT_SECONDS = 600
"""How long the one activity that closes an offering (every applicant judged, the seats written) may
take (ours; one transaction, so the buyers are named whole or not at all)."""

OFFERING_CLOSE_KEYS_PER_STATEMENT = 10_000
"""Buyers' applications the close marks per statement, by key (ours: a bound on one statement's parameters)."""

SPECS_MAX_ITEMS = 30
"""Specification lines an offering may list (ours: an input limit; seed 001 «با ذکر مشخصات کامل خودروها»)."""

# --- fuel card issuance (issue 12; the fuel helper adds below this line) ---

FUEL_CARD_FOLLOW_UP_DAYS = {"new": 20, "duplicate": 45}
"""Calendar days (Tehran) after a request when the applicant is told how to follow it up if the card
has not arrived: a new card «حدود ۲۰ روز طول می کشد ... اگر بعد از ۲۰ روز ... دریافت نکردید»; a
duplicate «بین ۴۵ روز تا دو ماه طول می کشد» (seed 002; the duplicate's lower bound is ours to use)."""

FUEL_CARD_ALERT_DAYS = 60
"""Calendar days (Tehran) after a new card's request when operators are alerted: «ممکن است که در
بعضی نواحی تا ۶۰ روز هم طول بکشد» (seed 002)."""

FUEL_CARD_DUPLICATE_ALERT_MONTHS = 2
"""Jalali calendar months after a duplicate's request when operators are alerted: «بین ۴۵ روز تا
دو ماه» (seed 002)."""

FUEL_CARD_MOTORCYCLE_MAX_AGE_YEARS = 10
"""«اگر موتورسیکلتی از تاریخ ساختش ۱۰ سال گذشته باشد، دیگر امکان دریافت کارت سوخت ندارد» (seed 002);
the same age as seed 002's worn-out table, counted in model years as the charge cycle counts them."""

FUEL_CARD_POSTAGE_RIAL = 500_000
"""Postage of a card sent to the applicant's address («هزینه ارسال را پرداخت کنید», seed 002; the
amount is ours), reported paid by a bank before the post office dispatches the card."""

FUEL_CARD_POSTCODE_DIGITS = 10
"""An Iranian postcode has ten digits («آدرس دقیق به همراه کدپستی», seed 002)."""

FUEL_CARD_PIN_DIGITS = 4
"""«رمز این کارت ۴ رقم آخر کد ملی مالک خودرو است» (seed 002): a PIN is four digits."""

FUEL_CARD_PIN_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
"""scrypt cost of a stored PIN hash (ours: the standard interactive-login cost; a four-digit PIN's
salted hash costs an attacker 10,000 scrypt runs per card, so the hash is kept server-side only)."""

# --- domestic controls (issue 11) ---

DOMESTIC_TELL_CHUNK = 1_000
"""Orders one activity tells that their stage's controls or turns changed (ours; the signals go
``SCHEME_WAKE_CONCURRENCY`` at a time)."""
