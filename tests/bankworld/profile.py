"""What a bankworld company is: its accounts, formats, processors, partners and habits.

A :class:`Profile` holds everything that differs between two companies; the generator in
:mod:`bankworld.generator` is the same for all of them. ``DEFAULT`` is the profile the matching
work may be tuned on; the hold-out profile lives in :mod:`bankworld.holdout` (not to be read by
whoever tunes the engine).

Templates are ``str.format`` strings. Placeholders the generator fills: ``{n}`` a running number,
``{y}`` the year, ``{yy}``/``{mm}``/``{dd}`` parts of the date, ``{id}`` a payout or trace id,
``{ref}`` the reference the payer wrote, ``{name}`` the counterparty as the bank prints it,
``{company}`` the company name as the bank prints it, ``{coid}`` an ACH company id,
``{trace}`` a bank trace number, ``{num}`` a check number, ``{order}`` an order number,
``{store}`` a store number, ``{emp}`` an employee as ``LAST FIRST``, ``{conf}`` an
online banking confirmation number.
Random tokens: ``{A12}`` twelve upper-case letters and digits, ``{D8}`` eight digits (any
length 1-19 works for both).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Account:
    key: str  # op, payroll, eur, jpy: how the generator names it
    ledger_account: str  # the ledger's account code (config accounts.ledger_account)
    currency: str
    bank_name: str  # config accounts.name
    mask: str  # last four digits, as Plaid's AccountBase.mask


@dataclass(frozen=True)
class Processor:
    key: str
    name: str  # the ledger's counterparty for its sales
    account: str  # Account.key the payouts land in
    share: float  # of all card-processor sales
    lag_days: int  # business days from the sale day to the payout day (D+1..D+3)
    books_payout_id: bool  # each sale row carries the payout id (else: only day and processor)
    fee_in_ledger: bool  # the fee is its own ledger row (else: left for the reconciliation)
    fee_bp: int  # fee per sale in basis points of the sale ...
    fee_fixed: int  # ... plus this many minor units
    payout_id: str  # template of the payout id the bank line shows
    layouts: tuple[str, ...]  # bank descriptions of a payout
    merchant_name: str | None  # Plaid's merchant_name when it recognises the processor
    sale_text: tuple[str, ...]  # ledger descriptions of a sale
    refund_text: str
    fee_text: str  # ledger description of the fee row
    counterparty_type: str = "payment_app"


@dataclass(frozen=True)
class Party:
    legal: str  # as the ledger has it
    bank: str  # as banks print it (ACH company name, 16 characters, upper case)
    merchant: str | None = None  # Plaid's cleaned merchant_name, when Plaid knows it


@dataclass(frozen=True)
class CardMerchant:
    descriptor: str  # bank text; may use {store} {A6} {D4}...
    clean: str  # the ledger's counterparty and Plaid's merchant_name (when not null)
    median: float  # typical amount in major units
    category: str  # ledger description prefix
    tips: bool = False  # the posted amount may differ from the pending one (tips, FX)


@dataclass(frozen=True)
class Profile:
    name: str
    seed: int
    company: str  # legal name
    company_bank: str  # as ACH INDN prints it (22 characters)
    start: str  # first day of the books (ISO)
    days: int
    holidays: tuple[str, ...]
    accounts: tuple[Account, ...]
    # The ledger export: column names, sign convention and CSV options.
    ledger_columns: dict[str, str]  # recon ColumnMapping field -> column name
    debit_credit: bool  # True: Debit/Credit columns; False: one signed amount column
    positive_is: str  # money_in | money_out (for a signed amount column)
    csv_delimiter: str
    csv_decimal: str
    csv_thousands: str | None
    csv_date_format: str
    entry_id: str  # template with {n} {y}
    bank_file: str  # "sync" (a /transactions/sync response) or "get" ({"transactions": [...]})
    truncate: tuple[int, int]  # banks cut descriptions to this many characters (inclusive)
    truncate_share: float
    # Reference formats of the company (templates with {n} and {y}).
    invoice_ref: dict[str, str]  # per account key: the company's invoice numbers
    customer_ref: str  # customer account numbers some payers quote instead of the invoice
    bill_ref: tuple[str, ...]  # vendor invoice numbers the company pays (vendors' formats)
    po_ref: str  # the company's purchase orders
    expense_ref: str  # expense reports (card purchases)
    check_ref: str  # how the ledger records a check number ({num})
    payroll_ref: str  # payroll run ({y}{mm}{dd})
    transfer_ref: str  # internal transfers
    creditor_reference_share: float  # EUR invoices that carry an RF creditor reference
    # Bank description layouts (templates).
    ach_credit: tuple[str, ...]
    ach_debit: tuple[str, ...]
    wire_in: tuple[str, ...]
    wire_out: tuple[str, ...]
    sepa_in: tuple[str, ...]
    sepa_out: tuple[str, ...]
    jpy_in: tuple[str, ...]
    jpy_out: tuple[str, ...]
    check_paid: tuple[str, ...]
    check_deposit: tuple[str, ...]
    payroll_item: tuple[str, ...]
    payroll_batch: tuple[str, ...]
    payroll_provider: Party
    tax_payment: tuple[str, ...]
    transfer_out: str
    transfer_in: str
    wire_fee: tuple[str, ...]
    jpy_transfer_fee: str
    service_fee: tuple[str, ...]
    interest: tuple[str, ...]
    ach_return: str
    pos_reversal: str
    processors: tuple[Processor, ...]
    customers: tuple[Party, ...]
    eur_customers: tuple[Party, ...]
    jpy_partners: tuple[Party, ...]
    vendors: tuple[Party, ...]
    landlords: tuple[Party, ...]
    card_merchants: tuple[CardMerchant, ...]
    subscriptions: tuple[CardMerchant, ...]
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    # Ledger texts (templates).
    receipt_text: tuple[str, ...]
    payment_text: tuple[str, ...]
    ledger_texts: dict[str, str]  # see DEFAULT for the keys and their placeholders
    mix: dict[str, float] = field(default_factory=dict)  # pattern -> instances per 100k rows


# ---------------------------------------------------------------------------------------------
# The default profile: Acme Robotics Inc., a US maker selling online and in shops, with a
# European and a Japanese arm. Books exported from a US accounting package (Debit/Credit
# columns, US dates, thousands separators).

_US_HOLIDAYS = ("2025-01-01", "2025-01-20", "2025-02-17", "2025-05-26", "2025-06-19",
                "2025-07-04", "2025-09-01", "2025-10-13", "2025-11-11", "2025-11-27",
                "2025-12-25")


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _parties(rows: str) -> tuple[Party, ...]:
    """Lines of ``legal | BANK NAME | merchant`` (merchant may be empty)."""
    parties = []
    for line in rows.strip().splitlines():
        legal, bank, merchant = (part.strip() for part in line.split("|"))
        parties.append(Party(legal, bank, merchant or None))
    return tuple(parties)


_CUSTOMERS = _parties("""
Initech LLC | INITECH LLC | Initech
Globex Corporation | GLOBEX CORP |
Litware Inc. | LITWARE INC |
Contoso Ltd | CONTOSO LTD | Contoso
Fabrikam Inc | FABRIKAM INC |
Northwind Traders | NORTHWIND TRADER |
Tailspin Toys | TAILSPIN TOYS |
Wide World Importers | WIDE WORLD IMPOR |
Adventure Works Cycles | ADVENTURE WORKS |
Proseware Inc | PROSEWARE INC |
Blue Yonder Airlines | BLUE YONDER AIRL |
Coho Winery | COHO WINERY |
Alpine Ski House | ALPINE SKI HOUSE |
Woodgrove Bank | WOODGROVE BANK | Woodgrove Bank
Lucerne Publishing | LUCERNE PUBLISHI |
Margie's Travel | MARGIES TRAVEL |
Trey Research | TREY RESEARCH |
Graphic Design Institute | GRAPHIC DESIGN I |
Humongous Insurance | HUMONGOUS INSURA |
School of Fine Art | SCHOOL OF FINE A |
Hooli XYZ Inc | HOOLI XYZ INC |
Vandelay Industries | VANDELAY INDUSTR |
Stark Industries LLC | STARK INDUSTRIES |
Wayne Enterprises | WAYNE ENTERPRISE | Wayne Enterprises
Umbrella Corporation | UMBRELLA CORP |
Soylent Corp | SOYLENT CORP |
Tyrell Corporation | TYRELL CORP |
Cyberdyne Systems | CYBERDYNE SYSTEM |
Massive Dynamic | MASSIVE DYNAMIC |
Gringotts Holdings | GRINGOTTS HOLDIN |
Oscorp Technologies | OSCORP TECHNOLOG |
Wonka Industries | WONKA INDUSTRIES |
Duff Beverage Company | DUFF BEVERAGE CO |
Sterling Cooper Draper | STERLING COOPER |
Pied Piper Inc | PIED PIPER INC |
Dunder Mifflin Paper | DUNDER MIFFLIN |
Bluth Company | BLUTH COMPANY |
Prestige Worldwide | PRESTIGE WORLDWI |
Los Pollos Hermanos | LOS POLLOS HERMA |
Kramerica Industries | KRAMERICA INDUST |
Nakatomi Trading | NAKATOMI TRADING |
Virtucon Ltd | VIRTUCON LTD |
Monarch Solutions | MONARCH SOLUTION |
Rekall Inc | REKALL INC |
Aperture Science | APERTURE SCIENCE |
Black Mesa Research | BLACK MESA RESEA |
Vehement Capital | VEHEMENT CAPITAL |
Ollivander Supply | OLLIVANDER SUPPL |
Bubba Gump Shrimp Co | BUBBA GUMP SHRIM |
Sirius Cybernetics | SIRIUS CYBERNETI |
Weyland Yutani Corp | WEYLAND YUTANI |
Omni Consumer Products | OMNI CONSUMER PR |
Gekko and Co | GEKKO AND CO |
Spacely Sprockets | SPACELY SPROCKET |
Cogswell Cogs | COGSWELL COGS |
Krusty Krab Holdings | KRUSTY KRAB HOLD |
Ghostbusters LLC | GHOSTBUSTERS LLC |
Zorg Industries | ZORG INDUSTRIES |
Yoyodyne Propulsion | YOYODYNE PROPULS |
Benthic Petroleum | BENTHIC PETROLEU |
""")

_EUR_CUSTOMERS = _parties("""
Mueller Maschinenbau GmbH | MUELLER MASCHINENBAU GMBH |
Schneider Logistik AG | SCHNEIDER LOGISTIK AG |
Bakker Techniek B.V. | BAKKER TECHNIEK BV |
Rossi Automazione S.r.l. | ROSSI AUTOMAZIONE SRL |
Dubois Industrie SAS | DUBOIS INDUSTRIE SAS |
Garcia Robotica S.L. | GARCIA ROBOTICA SL |
Nieminen Oy | NIEMINEN OY |
Kowalski Sp. z o.o. | KOWALSKI SP Z OO |
Janssens NV | JANSSENS NV |
Fischer Elektronik KG | FISCHER ELEKTRONIK KG |
Weber und Partner GmbH | WEBER UND PARTNER GMBH |
Lindqvist AB | LINDQVIST AB |
Moreau et Fils SARL | MOREAU ET FILS SARL |
Novak s.r.o. | NOVAK SRO |
O'Brien Engineering Ltd | OBRIEN ENGINEERING LTD |
Costa Sistemas Lda | COSTA SISTEMAS LDA |
Hofmann Antriebstechnik | HOFMANN ANTRIEBSTECHNIK |
Van Dijk Automation | VAN DIJK AUTOMATION |
""")

_JPY_PARTNERS = _parties("""
Tanaka Shoji K.K. | KK TANAKA SHOJI |
Suzuki Seiki Co Ltd | SUZUKI SEIKI KK |
Yamamoto Denki K.K. | KK YAMAMOTO DENKI |
Watanabe Buhin Co | WATANABE BUHIN KK |
Ito Robotics K.K. | KK ITO ROBOTICS |
Nakamura Kogyo Co Ltd | NAKAMURA KOGYO KK |
Kobayashi Trading | KK KOBAYASHI TRADING |
Kato Precision K.K. | KK KATO PRECISION |
Sato Logistics Co | SATO LOGISTICS KK |
Takahashi Sangyo K.K. | KK TAKAHASHI SANGYO |
""")

_VENDORS = _parties("""
Comcast Business | COMCAST BUSINESS | Comcast
Blue Shield of California | BLUE SHIELD OF CA | Blue Shield of California
Office Depot Inc | OFFICE DEPOT | Office Depot
FedEx Freight | FEDEX FREIGHT | FedEx
United Parcel Service | UPS BILLING CTR | UPS
Amazon Web Services | AMAZON WEB SERVIC | Amazon Web Services
Pacific Gas and Electric | PACIFIC GAS & ELE | PG&E
Verizon Wireless | VERIZON WIRELESS | Verizon
Grainger Industrial Supply | WW GRAINGER | Grainger
McMaster-Carr Supply Co | MCMASTER CARR |
Digi-Key Electronics | DIGI KEY CORP | Digi-Key
Mouser Electronics | MOUSER ELECTRONIC |
Arrow Electronics Inc | ARROW ELECTRONICS |
Avnet Inc | AVNET INC |
Cintas Corporation | CINTAS CORP | Cintas
Iron Mountain Inc | IRON MOUNTAIN | Iron Mountain
Waste Management | WASTE MANAGEMENT | Waste Management
ADT Security Services | ADT SECURITY SVCS | ADT
Hartford Fire Insurance | THE HARTFORD | The Hartford
Deloitte & Touche LLP | DELOITTE TOUCHE |
Baker McKenzie LLP | BAKER MCKENZIE |
Robert Half International | ROBERT HALF INTL | Robert Half
Uline Inc | ULINE | Uline
Sysco Foods | SYSCO CORP | Sysco
Staples Business Advantage | STAPLES ADVANTAGE | Staples
Xerox Financial Services | XEROX FINANCIAL | Xerox
Konica Minolta Business | KONICA MINOLTA |
Dell Financial Services | DELL FINANCIAL SV | Dell
CDW Direct LLC | CDW DIRECT | CDW
Salesforce Inc | SALESFORCE INC | Salesforce
Atlassian Pty Ltd | ATLASSIAN | Atlassian
Zendesk Inc | ZENDESK INC | Zendesk
Granite Telecom | GRANITE TELECOM |
Republic Services | REPUBLIC SERVICES | Republic Services
Airgas USA LLC | AIRGAS USA |
Fastenal Company | FASTENAL CO | Fastenal
Applied Industrial Tech | APPLIED INDUSTRIA |
Motion Industries | MOTION INDUSTRIES |
Keyence Corp of America | KEYENCE CORP |
Omron Automation | OMRON AUTOMATION |
Rockwell Automation | ROCKWELL AUTOMATI |
Festo Corporation | FESTO CORP |
SMC Corporation of America | SMC CORP AMERICA |
Parker Hannifin | PARKER HANNIFIN |
Misumi USA | MISUMI USA |
""")

_LANDLORDS = _parties("""
Prologis LP | PROLOGIS | Prologis
Duke Realty LP | DUKE REALTY |
Rexford Industrial | REXFORD INDUSTRIA |
Terreno Realty | TERRENO REALTY |
EastGroup Properties | EASTGROUP PROPERT |
""")

_CARD_MERCHANTS = (
    CardMerchant("SQ *BLUE BOTTLE COFFEE", "Blue Bottle Coffee", 18.0, "Meals", tips=True),
    CardMerchant("AMZN MKTP US*{A9}", "Amazon", 64.0, "Office supplies"),
    CardMerchant("UBER   *TRIP HELP.UBER.COM", "Uber", 31.0, "Travel", tips=True),
    CardMerchant("LYFT   *RIDE {A6}", "Lyft", 24.0, "Travel", tips=True),
    CardMerchant("PAYPAL *EBAY INC", "eBay", 85.0, "Equipment"),
    CardMerchant("DELTA AIR {D13}", "Delta", 420.0, "Travel"),
    CardMerchant("UNITED {D13}", "United Airlines", 390.0, "Travel"),
    CardMerchant("MARRIOTT {store} {A4}", "Marriott", 310.0, "Lodging", tips=True),
    CardMerchant("HILTON HOTELS {store}", "Hilton", 280.0, "Lodging", tips=True),
    CardMerchant("SHELL OIL {D11}", "Shell", 58.0, "Fuel"),
    CardMerchant("CHEVRON {D7}", "Chevron", 61.0, "Fuel"),
    CardMerchant("STAPLES {D5}", "Staples", 47.0, "Office supplies"),
    CardMerchant("OFFICE DEPOT #{store}", "Office Depot", 52.0, "Office supplies"),
    CardMerchant("THE HOME DEPOT #{store}", "The Home Depot", 96.0, "Facilities"),
    CardMerchant("LOWES #{store}", "Lowe's", 88.0, "Facilities"),
    CardMerchant("DOORDASH*{A8}", "DoorDash", 42.0, "Meals", tips=True),
    CardMerchant("GRUBHUB*{A8}", "Grubhub", 39.0, "Meals", tips=True),
    CardMerchant("FEDEX {D9}", "FedEx", 36.0, "Shipping"),
    CardMerchant("USPS PO {D10}", "USPS", 22.0, "Shipping"),
    CardMerchant("COSTCO WHSE #{store}", "Costco", 180.0, "Supplies"),
    CardMerchant("BEST BUY {D8}", "Best Buy", 240.0, "Equipment"),
    CardMerchant("APPLE.COM/BILL", "Apple", 29.0, "Software"),
    CardMerchant("TST* {A8} CAFE", "Cafe", 27.0, "Meals", tips=True),
    CardMerchant("SOUTHWES {D10}", "Southwest Airlines", 260.0, "Travel"),
    CardMerchant("HERTZ RENT-A-CAR {D6}", "Hertz", 210.0, "Travel"),
    CardMerchant("PARKWHIZ *{A6}", "ParkWhiz", 19.0, "Travel"),
    CardMerchant("B&H PHOTO {D3}", "B&H Photo", 150.0, "Equipment"),
    CardMerchant("DIGIKEY ELECTRONICS", "Digi-Key", 120.0, "Parts"),
    CardMerchant("MCMASTER-CARR {D6}", "McMaster-Carr", 110.0, "Parts"),
    CardMerchant("WALMART.COM {A6}", "Walmart", 75.0, "Supplies"),
)

_SUBSCRIPTIONS = (
    CardMerchant("GOOGLE *GSUITE_ACME.CO", "Google", 72.0, "Software"),
    CardMerchant("GOOGLE *CLOUD {A6}", "Google Cloud", 49.0, "Software"),
    CardMerchant("ZOOM.US 888-799-9666", "Zoom", 15.99, "Software"),
    CardMerchant("SLACK T0{A7}", "Slack", 99.0, "Software"),
    CardMerchant("ADOBE  *CREATIVE CLD", "Adobe", 59.99, "Software"),
    CardMerchant("MSFT * E0{D9}", "Microsoft", 49.0, "Software"),
    CardMerchant("DROPBOX*{A8}", "Dropbox", 20.0, "Software"),
    CardMerchant("GITHUB, INC.", "GitHub", 49.0, "Software"),
    CardMerchant("ATLASSIAN {A6}", "Atlassian", 99.0, "Software"),
    CardMerchant("NOTION LABS, INC.", "Notion", 20.0, "Software"),
    CardMerchant("FIGMA {D6}", "Figma", 15.0, "Software"),
    CardMerchant("LINKEDIN PRE {D10}", "LinkedIn", 59.99, "Software"),
    CardMerchant("INTUIT *QBOOKS ONLINE", "Intuit", 99.0, "Software"),
    CardMerchant("DOCUSIGN INC", "DocuSign", 49.0, "Software"),
    CardMerchant("HUBSPOT INC", "HubSpot", 20.0, "Software"),
    CardMerchant("AWS EMEA AWS.AMAZON.CO", "Amazon Web Services", 99.0, "Software"),
    CardMerchant("OPENAI *CHATGPT SUBSCR", "OpenAI", 20.0, "Software"),
    CardMerchant("CANVA* {D8}", "Canva", 15.0, "Software"),
)

_FIRST = _words(
    "James Mary John Patricia Robert Jennifer Michael Linda William Elizabeth David "
    "Barbara Richard Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Nancy "
    "Daniel Lisa Matthew Betty Anthony Margaret Mark Sandra Donald Ashley Steven Kimberly "
    "Paul Emily Andrew Donna Joshua Michelle Kenneth Dorothy Kevin Carol Brian Amanda "
    "George Melissa Timothy Deborah Ronald Stephanie Edward Rebecca Jason Sharon Jeffrey "
    "Laura Ryan Cynthia Jacob Kathleen Gary Amy Nicholas Angela Eric Shirley Jonathan "
    "Anna Stephen Brenda Larry Pamela Justin Emma Scott Nicole Brandon Helen Benjamin "
    "Samantha Samuel Katherine Gregory Christine Alexander Debra Frank Rachel Patrick "
    "Carolyn Raymond Janet Jack Catherine Dennis Maria Jerry Heather Tyler Diane Aaron "
    "Ruth Jose Julie Adam Olivia Nathan Joyce Henry Virginia Douglas Victoria Zachary "
    "Kelly Peter Lauren Kyle Christina"
)
_LAST = _words(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez "
    "Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson "
    "White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright "
    "Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell "
    "Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins "
    "Reyes Stewart Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper "
    "Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez "
    "Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel "
    "Myers Long Ross Foster Jimenez Powell Jenkins Perry Russell Sullivan Bell Coleman "
    "Butler Henderson Barnes Gonzales Fisher Vasquez Simmons Romero Jordan Patterson "
    "Alexander Hamilton Graham Reynolds Griffin Wallace Moreno West Cole Hayes Bryant "
    "Herrera Gibson Ellis Tran"
)

_PROCESSORS = (
    Processor(
        key="stripe", name="Stripe", account="op", share=0.34, lag_days=2,
        books_payout_id=True, fee_in_ledger=False, fee_bp=290, fee_fixed=30,
        payout_id="ST-{A12}",
        layouts=("STRIPE TRANSFER {id}",
                 "STRIPE DES:TRANSFER ID:{id} INDN:{company} CO ID:1800948598 CCD"),
        merchant_name="Stripe",
        sale_text=("Stripe charge order {order}", "Online order {order} (Stripe)"),
        refund_text="Stripe refund order {order}", fee_text="Stripe fees payout {id}"),
    Processor(
        key="square", name="Square", account="op", share=0.20, lag_days=1,
        books_payout_id=False, fee_in_ledger=True, fee_bp=260, fee_fixed=10,
        payout_id="{A12}",
        layouts=("SQUARE INC DES:SQ{yy}{mm}{dd} ID:{id} INDN:{company} CO ID:9424300002 CCD",
                 "SQUARE INC SQ{yy}{mm}{dd} {id}"),
        merchant_name="Square",
        sale_text=("POS sale store {store} #{order}", "Square sale {order}"),
        refund_text="POS refund store {store} #{order}", fee_text="Square processing fees",
        counterparty_type="payment_terminal"),
    Processor(
        key="shopify", name="Shopify Payments", account="op", share=0.15, lag_days=3,
        books_payout_id=True, fee_in_ledger=True, fee_bp=290, fee_fixed=30,
        payout_id="P{D9}",
        layouts=("SHOPIFY DES:TRANSFER ID:{id} INDN:{company} CO ID:1800948598 CCD",
                 "SHOPIFY PAYMENTS PAYOUT {id}"),
        merchant_name="Shopify",
        sale_text=("Shopify order #{order}", "Web store order {order}"),
        refund_text="Shopify refund #{order}", fee_text="Shopify Payments fees {id}"),
    Processor(
        key="paypal", name="PayPal", account="op", share=0.10, lag_days=1,
        books_payout_id=False, fee_in_ledger=False, fee_bp=349, fee_fixed=49,
        payout_id="{D13}",
        layouts=("PAYPAL DES:TRANSFER ID:{id} INDN:{company} CO ID:PAYPALSI77 WEB",
                 "PAYPAL TRANSFER {id}"),
        merchant_name="PayPal",
        sale_text=("PayPal checkout {order}", "Marketplace order {order} PayPal"),
        refund_text="PayPal refund {order}", fee_text="PayPal fees"),
    Processor(
        key="adyen", name="Adyen", account="eur", share=0.13, lag_days=2,
        books_payout_id=False, fee_in_ledger=False, fee_bp=140, fee_fixed=11,
        payout_id="{D6}",
        layouts=("SEPA CREDIT ADYEN N.V. SETTLEMENT BATCH {id} ACMEROBOTICSEU",
                 "ADYEN N.V. PAYOUT BATCH {id}"),
        merchant_name="Adyen",
        sale_text=("EU web order {order}", "Adyen capture order {order}"),
        refund_text="EU refund order {order}", fee_text="Adyen commission"),
    Processor(
        key="stripejp", name="Stripe Japan", account="jpy", share=0.08, lag_days=3,
        books_payout_id=True, fee_in_ledger=True, fee_bp=360, fee_fixed=0,
        payout_id="ST-{A12}",
        layouts=("STRIPE JAPAN KK {id}", "FURIKOMI STRIPE JAPAN {id}"),
        merchant_name="Stripe",
        sale_text=("JP web order {order}",), refund_text="JP refund {order}",
        fee_text="Stripe JP fees payout {id}"),
)

DEFAULT = Profile(
    name="default",
    seed=20250401,
    company="Acme Robotics Inc.",
    company_bank="ACME ROBOTICS INC",
    start="2025-01-01",
    days=91,
    holidays=_US_HOLIDAYS,
    accounts=(
        Account("op", "1010 Operating - First Platypus", "USD",
                "First Platypus Bank - Business Checking", "4417"),
        Account("payroll", "1020 Payroll - First Platypus", "USD",
                "First Platypus Bank - Payroll", "9083"),
        Account("eur", "1050 EUR - Tartan Bank Frankfurt", "EUR",
                "Tartan Bank - EUR Current Account", "2210"),
        Account("jpy", "1060 JPY - Tartan Bank Tokyo", "JPY",
                "Tartan Bank - Tokyo Futsu", "7345"),
    ),
    ledger_columns={"entry_id": "Entry No", "date": "Date", "account": "GL Account",
                    "description": "Memo", "reference": "Ref No", "counterparty": "Name",
                    "debit": "Debit", "credit": "Credit", "currency": "Currency"},
    debit_credit=True,
    positive_is="money_in",
    csv_delimiter=",",
    csv_decimal=".",
    csv_thousands=",",
    csv_date_format="%m/%d/%Y",
    entry_id="GL{y}-{n:07d}",
    bank_file="sync",
    truncate=(18, 32),
    truncate_share=0.35,
    invoice_ref={"op": "INV-{n}", "payroll": "INV-{n}", "eur": "INV/{y}/{n:05d}",
                 "jpy": "JP-INV-{n}"},
    customer_ref="AR-{n}",
    bill_ref=("{n}", "A-{n}", "INV{n}", "{y}-{n:06d}", "BL{n}"),
    po_ref="PO {n}",
    expense_ref="EXP-{y}-{n:05d}",
    check_ref="{num}",
    payroll_ref="PR-{y}{mm}{dd}",
    transfer_ref="TRF-{n:05d}",
    creditor_reference_share=0.4,
    ach_credit=("ACH CREDIT {name} {ref}",
                "{name} DES:PAYMENT ID:{ref} INDN:{company} CO ID:{coid} CCD",
                "ORIG CO NAME:{name} ORIG ID:{coid} DESC DATE:{yy}{mm}{dd} CO ENTRY DESCR:PAYMENT "
                "SEC:CCD TRACE#:{trace} IND ID:{ref} IND NAME:{company}",
                "ACH DEPOSIT {name} {ref}"),
    ach_debit=("ACH DEBIT {name} {ref}",
               "{name} DES:BILL PAY ID:{ref} INDN:{company} CO ID:{coid} PPD",
               "ONLINE PAYMENT TO {name} {ref}"),
    wire_in=("INCOMING WIRE {name} REF {trace}", "WIRE TRF IN {name} {ref}",
             "FEDWIRE CREDIT VIA {name} REF {ref}"),
    wire_out=("WIRE TRF OUT {D4} {name}", "WIRE TRF OUT {name} {ref}",
              "OUTGOING WIRE {name} REF {trace}"),
    sepa_in=("SEPA CREDIT TRANSFER {name} {ref}", "SEPA CT {name} REMI {ref}",
             "SEPA CREDIT {name} END TO END {ref}"),
    sepa_out=("SEPA DEBIT TRANSFER {name} {ref}", "SEPA CT OUT {name} {ref}"),
    jpy_in=("FURIKOMI {name} {ref}", "TRANSFER IN {name}"),
    jpy_out=("FURIKOMI OUT {name}", "TRANSFER TO {name} {ref}"),
    check_paid=("CHECK {num}", "CHECK # {num}", "CHK {num}"),
    check_deposit=("REMOTE DEPOSIT CAPTURE", "DEPOSIT", "MOBILE DEPOSIT REF {D9}"),
    payroll_item=("ACH ORIG PAYROLL INDN:{emp} ID:{ref}", "PAYROLL DIR DEP {emp}",
                  "{company} DES:PAYROLL INDN:{emp} CO ID:{coid} PPD"),
    payroll_batch=("GUSTO DES:NET {yy}{mm}{dd} ID:{A12} INDN:{company} CO ID:9138864001 CCD",
                   "ORIG CO NAME:GUSTO ORIG ID:9138864001 DESC DATE:{yy}{mm}{dd} CO ENTRY "
                   "DESCR:NET PAY SEC:CCD TRACE#:{trace}"),
    payroll_provider=Party("Gusto", "GUSTO", "Gusto"),
    tax_payment=("IRS USATAXPYMT {D15}", "CA EDD DES:EDD DEP ID:{D10}"),
    transfer_out="ONLINE TRANSFER TO CHK ...{mask} TRANSACTION#: {conf}",
    transfer_in="ONLINE TRANSFER FROM CHK ...{mask} TRANSACTION#: {conf}",
    wire_fee=("WIRE TRANSFER FEE", "OUTGOING WIRE FEE", "INTL WIRE FEE"),
    jpy_transfer_fee="FURIKOMI TESURYO",
    service_fee=("MONTHLY SERVICE FEE", "ACCOUNT ANALYSIS FEE", "ACCOUNT MAINTENANCE FEE"),
    interest=("INTEREST PAYMENT", "INTEREST PAID"),
    ach_return="ACH RETURN R{D2} {name}",
    pos_reversal="REVERSAL {desc}",
    processors=_PROCESSORS,
    customers=_CUSTOMERS,
    eur_customers=_EUR_CUSTOMERS,
    jpy_partners=_JPY_PARTNERS,
    vendors=_VENDORS,
    landlords=_LANDLORDS,
    card_merchants=_CARD_MERCHANTS,
    subscriptions=_SUBSCRIPTIONS,
    first_names=_FIRST,
    last_names=_LAST,
    receipt_text=("Payment received {ref}", "Customer payment {name} {ref}",
                  "Receipt {ref} {name}"),
    payment_text=("Payment to {name} {ref}", "Bill payment {name}", "AP payment {ref}"),
    ledger_texts={
        "card": "{category} - {merchant}",
        "subscription": "{merchant} subscription {month}",
        "wire_out": "Wire to {name} {ref}",
        "wire_fee": "Wire fee {name}",
        "early": "Scheduled payment {name} {ref}",
        "check": "Check {num} {name}",
        "check_received": "Check received {name} {ref}",
        "net_pay": "Net pay {last}, {first}",
        "batch_pay": "{provider} net pay {first} {last}",
        "payroll_tax": "Payroll taxes {ref}",
        "tax_authority": "Internal Revenue Service",
        "transfer": "Transfer {source} to {target} {ref}",
        "rent": "Rent {month} {name}",
        "refund": "Refund",
    },
)
