"""The hold-out company. Whoever tunes the matching engine does not read this module.

Bergmann Technik Inc., the US arm of a German machine builder, keeps its books in the group's
ERP: a semicolon-separated export with German headers, decimal commas, day-first dates and one
signed amount column where a positive amount is money out. Its banks, card processors,
reference formats, partners and truncation lengths differ from the default profile's, and its
Plaid data comes as a ``/transactions/get``-style list (newest first, pending rows that posted
already gone).
"""

from __future__ import annotations

from .profile import Account, CardMerchant, Party, Processor, Profile, _parties, _words

_HOLIDAYS = ("2025-05-26", "2025-06-19", "2025-07-04", "2025-09-01", "2025-10-13",
             "2025-11-11", "2025-11-27", "2025-12-25")

_CUSTOMERS = _parties("""
Midwest Tooling Inc | MIDWEST TOOLING |
Great Lakes Fabrication | GREAT LAKES FABRI |
Carolina Precision Parts | CAROLINA PRECISIO |
Lone Star Machining LLC | LONE STAR MACHINI |
Pioneer Metalworks | PIONEER METALWORK |
Cascade Plastics Corp | CASCADE PLASTICS |
Ridgeway Packaging | RIDGEWAY PACKAGIN |
Summit Aerospace Components | SUMMIT AEROSPACE |
Harbor Marine Systems | HARBOR MARINE SYS |
Keystone Automotive Supply | KEYSTONE AUTOMOTI |
Redwood Furniture Works | REDWOOD FURNITURE |
Blue Ridge Medical Devices | BLUE RIDGE MEDICA | Blue Ridge Medical
Frontier Energy Services | FRONTIER ENERGY S |
Granite State Electronics | GRANITE STATE ELE |
Prairie Agri Equipment | PRAIRIE AGRI EQUI |
Coastal Bottling Co | COASTAL BOTTLING |
Ironclad Hydraulics | IRONCLAD HYDRAULI |
Silverline Optics | SILVERLINE OPTICS | Silverline
Northstar Robotics Integr | NORTHSTAR ROBOTIC |
Evergreen Composites | EVERGREEN COMPOSI |
Allegheny Castings | ALLEGHENY CASTING |
Bayou Fluid Power | BAYOU FLUID POWER |
Sierra Semiconductor Equip | SIERRA SEMICONDUC |
Twin Cities Conveyor | TWIN CITIES CONVE |
Magnolia Food Processing | MAGNOLIA FOOD PRO |
Copperhead Wire and Cable | COPPERHEAD WIRE |
Mesa Verde Solar | MESA VERDE SOLAR |
Hudson Valley Printing | HUDSON VALLEY PRI |
Badger State Dairy Equip | BADGER STATE DAIR |
Chesapeake Shipyards | CHESAPEAKE SHIPYA |
Tidewater Logistics | TIDEWATER LOGISTI | Tidewater
Appalachian Timber Co | APPALACHIAN TIMBE |
""")

_EUR_CUSTOMERS = _parties("""
Bergmann Technik GmbH | BERGMANN TECHNIK GMBH |
Krause Werkzeugbau GmbH | KRAUSE WERKZEUGBAU GMBH |
Zimmermann Antriebe AG | ZIMMERMANN ANTRIEBE AG |
Schulte Kunststofftechnik | SCHULTE KUNSTSTOFFTECHNIK |
Hartmann Logistik GmbH | HARTMANN LOGISTIK GMBH |
Becker und Soehne KG | BECKER UND SOEHNE KG |
Wagner Fertigungstechnik | WAGNER FERTIGUNGSTECHNIK |
Vogel Praezision GmbH | VOGEL PRAEZISION GMBH |
Lehmann Maschinen AG | LEHMANN MASCHINEN AG |
Keller Automation GmbH | KELLER AUTOMATION GMBH |
Peeters Industrie BV | PEETERS INDUSTRIE BV |
Fontaine Mecanique SA | FONTAINE MECANIQUE SA |
Bianchi Meccanica SpA | BIANCHI MECCANICA SPA |
Andersen Maskiner A/S | ANDERSEN MASKINER AS |
""")

_JPY_PARTNERS = _parties("""
Fujimoto Kikai K.K. | KK FUJIMOTO KIKAI |
Hasegawa Seisakusho | HASEGAWA SEISAKUSHO |
Morita Denshi Co | MORITA DENSHI KK |
Ogawa Tekko K.K. | KK OGAWA TEKKO |
Shimizu Hanbai Co Ltd | SHIMIZU HANBAI KK |
Yoshida Buhin K.K. | KK YOSHIDA BUHIN |
Inoue Sangyo Co | INOUE SANGYO KK |
Matsumoto Koki K.K. | KK MATSUMOTO KOKI |
""")

_VENDORS = _parties("""
AT&T Business | AT&T BUSINESS | AT&T
Duke Energy | DUKE ENERGY | Duke Energy
Anthem Blue Cross | ANTHEM BLUE CROSS | Anthem
MSC Industrial Supply | MSC INDUSTRIAL |
Global Industrial Co | GLOBAL INDUSTRIAL | Global Industrial
Motion Control Direct | MOTION CONTROL DI |
Allied Electronics | ALLIED ELECTRONIC |
Newark Element14 | NEWARK ELEMENT14 |
Lincoln Electric | LINCOLN ELECTRIC |
Hilti North America | HILTI NORTH AMERI | Hilti
Siemens Industry Inc | SIEMENS INDUSTRY |
Bosch Rexroth Corp | BOSCH REXROTH COR |
Sandvik Coromant US | SANDVIK COROMANT |
Kennametal Inc | KENNAMETAL INC |
Schaeffler Group USA | SCHAEFFLER GROUP |
XPO Logistics | XPO LOGISTICS | XPO
Old Dominion Freight | OLD DOMINION FREI | Old Dominion
Ryder Truck Rental | RYDER TRUCK RENTA | Ryder
Travelers Insurance | TRAVELERS INS | Travelers
KPMG LLP | KPMG LLP |
Jones Day LLP | JONES DAY |
Aramark Uniform Services | ARAMARK UNIFORM | Aramark
ServiceNow Inc | SERVICENOW INC | ServiceNow
Workday Inc | WORKDAY INC | Workday
SAP America Inc | SAP AMERICA INC | SAP
Cisco Systems Capital | CISCO SYSTEMS CAP |
Ricoh USA Inc | RICOH USA INC | Ricoh
Ecolab Inc | ECOLAB INC | Ecolab
Stericycle Inc | STERICYCLE INC |
Praxair Distribution | PRAXAIR DISTRIBUT |
""")

_LANDLORDS = _parties("""
Link Logistics Real Estate | LINK LOGISTICS RE |
STAG Industrial | STAG INDUSTRIAL |
First Industrial LP | FIRST INDUSTRIAL |
Plymouth Industrial REIT | PLYMOUTH INDUSTRI |
""")

_CARD_MERCHANTS = (
    CardMerchant("STARBUCKS STORE {D5}", "Starbucks", 14.0, "Bewirtung", tips=True),
    CardMerchant("AMAZON.COM*{A9} AMZN.C", "Amazon", 71.0, "Buerobedarf"),
    CardMerchant("AMERICAN AIR{D10}", "American Airlines", 455.0, "Reisekosten"),
    CardMerchant("LUFTHANSA {D13}", "Lufthansa", 980.0, "Reisekosten"),
    CardMerchant("HYATT HOTELS {store}", "Hyatt", 295.0, "Uebernachtung", tips=True),
    CardMerchant("HAMPTON INN {store}", "Hampton Inn", 160.0, "Uebernachtung"),
    CardMerchant("EXXONMOBIL {D8}", "ExxonMobil", 64.0, "Kraftstoff"),
    CardMerchant("BP#{D7}", "BP", 59.0, "Kraftstoff"),
    CardMerchant("GRAINGER {D9}", "Grainger", 140.0, "Material"),
    CardMerchant("HARBOR FREIGHT TOOLS {store}", "Harbor Freight", 85.0, "Werkzeug"),
    CardMerchant("NAPA AUTO PARTS {D4}", "NAPA", 72.0, "Fuhrpark"),
    CardMerchant("UBER *EATS {A8}", "Uber Eats", 38.0, "Bewirtung", tips=True),
    CardMerchant("PANERA BREAD #{store}", "Panera Bread", 26.0, "Bewirtung", tips=True),
    CardMerchant("ENTERPRISE RENT-A-CAR", "Enterprise", 230.0, "Reisekosten"),
    CardMerchant("UPS*{D18}", "UPS", 41.0, "Versand"),
    CardMerchant("SAMSCLUB #{store}", "Sam's Club", 165.0, "Material"),
    CardMerchant("MICRO CENTER #{D3}", "Micro Center", 260.0, "IT"),
    CardMerchant("NEWEGG INC {A7}", "Newegg", 190.0, "IT"),
    CardMerchant("TARGET {D8}", "Target", 58.0, "Material"),
    CardMerchant("CVS/PHARMACY #{D5}", "CVS", 23.0, "Sonstiges"),
)

_SUBSCRIPTIONS = (
    CardMerchant("MICROSOFT*365 {A8}", "Microsoft 365", 22.0, "Software"),
    CardMerchant("AUTODESK INC {D6}", "Autodesk", 245.0, "Software"),
    CardMerchant("SOLIDWORKS {A6}", "Dassault Systemes", 180.0, "Software"),
    CardMerchant("JETBRAINS {A8}", "JetBrains", 25.0, "Software"),
    CardMerchant("WEBEX {D9}", "Webex", 14.5, "Software"),
    CardMerchant("TEAMVIEWER {A6}", "TeamViewer", 50.9, "Software"),
    CardMerchant("MAILCHIMP *MONTHLY", "Mailchimp", 20.0, "Software"),
    CardMerchant("LASTPASS.COM", "LastPass", 6.0, "Software"),
    CardMerchant("GOTO.COM*GOTOCONNECT", "GoTo", 27.0, "Software"),
    CardMerchant("SMARTSHEET INC", "Smartsheet", 25.0, "Software"),
    CardMerchant("MIRO.COM {A6}", "Miro", 10.0, "Software"),
    CardMerchant("CLOUDFLARE {D8}", "Cloudflare", 20.0, "Software"),
)

_FIRST = _words(
    "Lukas Anna Jonas Lena Felix Marie Maximilian Sophie Paul Laura Leon Julia Tim Lea "
    "Jan Hannah Niklas Sarah Finn Emma Tobias Clara Moritz Katharina Daniel Amelie "
    "Michael Johanna Carlos Maria Luis Elena Diego Sofia Juan Valentina Kevin Megan Tyler "
    "Brittany Cody Kayla Dustin Heather Travis Amber Chad Crystal Brent Tiffany Derek "
    "Whitney Shane Courtney Wade Lindsey Troy Misty"
)
_LAST = _words(
    "Mueller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Koch "
    "Richter Klein Wolf Neumann Schwarz Braun Zimmermann Krueger Hartmann Lange Werner "
    "Krause Lehmann Kowalski Novak Horvat Olsen Hansen Nielsen Lindgren Berg Dahl Quinn "
    "Murphy OConnor Walsh Byrne Doyle Kennedy Ramos Vargas Castro Ortega Delgado Vega "
    "Herrera Medina Guerrero Rojas Nunez Pena Cabrera Campos Dominguez Soto Reeves "
    "Hawkins Dunn Crawford Boyd Mason Hunt Palmer Wells Stone Knight Hudson Spencer"
)

_PROCESSORS = (
    Processor(
        key="braintree", name="Braintree", account="op", share=0.30, lag_days=1,
        books_payout_id=True, fee_in_ledger=True, fee_bp=259, fee_fixed=49,
        payout_id="BT{D10}",
        layouts=("BRAINTREE DES:DEPOSIT ID:{id} INDN:{company} CO ID:2262394599 CCD",
                 "ACH CR BRAINTREE DEPOSIT {id}"),
        merchant_name="Braintree",
        sale_text=("Webshop Auftrag {order} Braintree", "Onlineverkauf {order}"),
        refund_text="Gutschrift Auftrag {order}", fee_text="Braintree Gebuehren {id}"),
    Processor(
        key="clover", name="Fiserv Clover", account="op", share=0.22, lag_days=2,
        books_payout_id=False, fee_in_ledger=False, fee_bp=230, fee_fixed=10,
        payout_id="{D6}",
        layouts=("BANKCARD {D4} MTOT DEP {id}", "CLOVER DES:MERCH DEP ID:{id} INDN:{company}"),
        merchant_name=None,
        sale_text=("Ladenverkauf Kasse {store} Bon {order}", "Kartenumsatz {order}"),
        refund_text="Storno Bon {order}", fee_text="Kartengebuehren",
        counterparty_type="payment_terminal"),
    Processor(
        key="amazonpay", name="Amazon Payments", account="op", share=0.14, lag_days=3,
        books_payout_id=True, fee_in_ledger=False, fee_bp=390, fee_fixed=30,
        payout_id="{A13}",
        layouts=("AMAZON PAYMENTS DES:SETTLEMENT ID:{id} INDN:{company} CCD",
                 "AMZN PAYMENTS SETTLEMENT {id}"),
        merchant_name="Amazon Pay",
        sale_text=("Marktplatz Auftrag {order}",), refund_text="Marktplatz Erstattung {order}",
        fee_text="Amazon Gebuehren {id}", counterparty_type="marketplace"),
    Processor(
        key="mollie", name="Mollie", account="eur", share=0.16, lag_days=1,
        books_payout_id=False, fee_in_ledger=True, fee_bp=180, fee_fixed=25,
        payout_id="STL-{D9}",
        layouts=("GUTSCHRIFT MOLLIE B.V. {id} AUSZAHLUNG", "MOLLIE PAYMENTS {id} {dd}-{mm}"),
        merchant_name="Mollie",
        sale_text=("Webshop EU Auftrag {order}",), refund_text="Erstattung EU {order}",
        fee_text="Mollie Transaktionsgebuehren"),
    Processor(
        key="klarna", name="Klarna", account="eur", share=0.10, lag_days=3,
        books_payout_id=True, fee_in_ledger=False, fee_bp=299, fee_fixed=35,
        payout_id="{A8}-{D4}",
        layouts=("GUTSCHRIFT KLARNA BANK AB SETTLEMENT {id}", "KLARNA SETTLEMENT REF {id}"),
        merchant_name="Klarna",
        sale_text=("Ratenkauf Auftrag {order}",), refund_text="Klarna Retoure {order}",
        fee_text="Klarna Gebuehr {id}"),
    Processor(
        key="paypay", name="PayPay", account="jpy", share=0.08, lag_days=2,
        books_payout_id=False, fee_in_ledger=False, fee_bp=198, fee_fixed=0,
        payout_id="{D8}",
        layouts=("FURIKOMI PAYPAY CORP {id}", "PAYPAY KK NYUKIN"),
        merchant_name="PayPay",
        sale_text=("JP Shop Bestellung {order}",), refund_text="JP Erstattung {order}",
        fee_text="PayPay Gebuehr"),
)

HOLDOUT = Profile(
    name="holdout",
    seed=77131,
    company="Bergmann Technik Inc.",
    company_bank="BERGMANN TECHNIK INC",
    start="2025-04-01",
    days=91,
    holidays=_HOLIDAYS,
    accounts=(
        Account("op", "1000-USD-OPER", "USD", "Harbor Federal - Commercial Checking", "0317"),
        Account("payroll", "1001-USD-PAYR", "USD", "Harbor Federal - Payroll Account", "0325"),
        Account("eur", "1100-EUR-HAUSBANK", "EUR", "Sparkasse Rhein - Geschaeftskonto", "8801"),
        Account("jpy", "1200-JPY-TOKYO", "JPY", "Sakura Trust Bank - Futsu", "5512"),
    ),
    ledger_columns={"entry_id": "Belegnummer", "date": "Buchungsdatum", "account": "Sachkonto",
                    "description": "Buchungstext", "reference": "Referenz",
                    "counterparty": "Geschaeftspartner", "amount": "Betrag",
                    "currency": "Waehrung"},
    debit_credit=False,
    positive_is="money_out",
    csv_delimiter=";",
    csv_decimal=",",
    csv_thousands=".",
    csv_date_format="%d.%m.%Y",
    entry_id="BU{y}-{n:06d}",
    bank_file="get",
    truncate=(16, 26),
    truncate_share=0.45,
    invoice_ref={"op": "RE{y}{n:06d}", "payroll": "RE{y}{n:06d}", "eur": "RE-{y}-{n:05d}",
                 "jpy": "JRE{n:05d}"},
    customer_ref="KD{n:05d}",
    bill_ref=("R-{n}", "{y}/{n}", "INV-{n:07d}", "{n}", "F{n}"),
    po_ref="BE-{y}-{n}",
    expense_ref="SP{y}{n:05d}",
    check_ref="SCHECK {num}",
    payroll_ref="LOHN {mm}/{y}-{dd}",
    transfer_ref="UMB{n:05d}",
    creditor_reference_share=0.6,
    ach_credit=("ACH CR {name} {ref}", "ACH CREDIT RECEIVED {name} ID {ref}",
                "{name} DES:CORP PMT ID:{ref} INDN:{company} CO ID:{coid} CTX"),
    ach_debit=("ACH DR {name} {ref}", "ACH PAYMENT {name} ID {ref}",
               "PREAUTHORIZED DEBIT {name} {ref}"),
    wire_in=("WIRE IN FROM {name} OBI {ref}", "INTL WIRE CR {name} {trace}",
             "WIRE CREDIT {name} BNF {company} OBI {ref}"),
    wire_out=("WIRE OUT TO {name} OBI {ref}", "WT FED#{D5} {name} /BNF={name}",
              "WIRE DEBIT {name} {trace}"),
    sepa_in=("GUTSCHRIFT {name} {ref}", "SEPA-UEBERWEISUNG {name} VERWENDUNGSZWECK {ref}",
             "ZAHLUNGSEINGANG {name} SVWZ+{ref}"),
    sepa_out=("UEBERWEISUNG {name} {ref}", "SEPA-LASTSCHRIFT {name} {ref}",
              "DAUERAUFTRAG {name} {ref}"),
    jpy_in=("FURIKOMI KAISHA {name} {ref}", "NYUKIN {name}"),
    jpy_out=("FURIKOMI SHUKKIN {name}", "SOKIN {name} {ref}"),
    check_paid=("CHECK PAID {num}", "CK#{num}", "CHECK {num} PAID"),
    check_deposit=("BRANCH DEPOSIT", "ATM CHECK DEPOSIT", "DEPOSIT ID NUMBER {D6}"),
    payroll_item=("DIRECT DEP {emp} {ref}", "PAYROLL CREDIT {emp}",
                  "{company} DES:SALARY INDN:{emp} CO ID:{coid} PPD"),
    payroll_batch=("ADP WAGE PAY DES:WAGE PAY ID:{A15} INDN:{company} CO ID:9659605001 CCD",
                   "ADP PAYROLL DES:NET PAY {yy}{mm}{dd}"),
    payroll_provider=Party("ADP Inc", "ADP WAGE PAY", "ADP"),
    tax_payment=("EFTPS DES:TAX PAYMNT ID:{D15}", "STATE OF OHIO DES:TAX PMT ID:{D9}"),
    transfer_out="BOOK TRANSFER DEBIT A/C X{mask} REF {conf}",
    transfer_in="BOOK TRANSFER CREDIT A/C X{mask} REF {conf}",
    wire_fee=("WIRE OUT FEE", "FX WIRE FEE", "WIRE SERVICE CHARGE"),
    jpy_transfer_fee="TESURYO",
    service_fee=("SERVICE CHARGE", "KONTOFUEHRUNG", "ANALYSIS SERVICE CHARGE"),
    interest=("INTEREST CREDIT", "HABENZINSEN"),
    ach_return="RETURN ITEM {name} R{D2}",
    pos_reversal="CREDIT REVERSAL {desc}",
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
    receipt_text=("Zahlungseingang {ref} {name}", "Eingang {name} {ref}", "ZE {ref}"),
    payment_text=("Zahlung an {name} {ref}", "Kreditorenzahlung {ref}", "Zahlung {name}"),
    ledger_texts={
        "card": "Kreditkarte {merchant} ({category})",
        "subscription": "Abo {merchant} {month}",
        "wire_out": "Auslandsueberweisung {name} {ref}",
        "wire_fee": "Bankgebuehr Ueberweisung {name}",
        "early": "Zahlungsavis {name} {ref}",
        "check": "Scheck {num} an {name}",
        "check_received": "Scheckeingang {name} {ref}",
        "net_pay": "Nettolohn {first} {last}",
        "batch_pay": "Lohnlauf {provider} {last}, {first}",
        "payroll_tax": "Lohnsteuer {ref}",
        "tax_authority": "Finanzamt / IRS",
        "transfer": "Umbuchung {source} an {target} {ref}",
        "rent": "Miete {month} {name}",
        "refund": "Erstattung",
    },
    mix={"check": 1200, "remittance": 1000, "split_receipt": 800, "card_purchase": 9000,
         "ap_payment": 8000, "payroll_item_employees": 500, "payroll_batch_employees": 700},
)
