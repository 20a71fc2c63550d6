"""Hand-written value pools and the deliberate hard-case strings for the totesys generator.

Plain tuples, so the generator stays deterministic (no Faker, no locale data that
changes between library versions) and a reader can see every value the data can hold.
``HARD_TEXT`` is the catalogue of awkward text the pipeline must carry byte for byte;
the generator writes each entry into real rows and the tests look for every one.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import TypeVar

import numpy as np

T = TypeVar("T")

# Each entry: a name for the case (tests report it) and a value exercising it. They are
# written into address_line_1 of the first addresses (NOT NULL text) and reused below in
# names, so quoting, escaping and encoding bugs show up in several columns and tables.
HARD_TEXT: dict[str, str] = {
    "single_quote": "12 O'Connell Street",
    "double_quote": 'The "Old Mill" Works',
    "comma": "Unit 4, Riverside Estate",
    "newline": "Block B\nSecond Floor",
    "crlf": "Suite 12\r\nNorth Wing",
    "tab": "Loading Dock\t7",
    "backslash": "Warehouse C:\\Goods\\In",
    "accent_and_eszett": "5 Rue de l'Église, Große Straße",
    "cjk": "中文大厦 3号楼",
    "emoji": "Tote Tower 👜 Level 2",
    "all_at_once": "Line 1, \"quoted\" 'single'\r\n\tindented \\ back é ß 中文 👜",
    "leading_trailing_space": "  padded address  ",
    "copy_end_marker": "\\.",  # COPY's end-of-data line; harmless only when quoted
    "null_lookalikes": "NULL \\N",  # text, not NULL
}

# Hard cases in other tables' text, so not only the address dimension is exercised.
HARD_COUNTERPARTY_NAMES: tuple[str, ...] = (
    'O\'Reilly, "Bags" & Co.',
    "Müller & Weiß Taschen GmbH",
    "北京手袋有限公司 👜",
    "Tab\tand\\Backslash Ltd",
    "Newline\nTrading LLP",
)
HARD_STAFF: tuple[tuple[str, str], ...] = (
    ("Siobhán", "O'Brien"),
    ("Zoë", "Strauß"),
    ("伟", "王"),
    ('Jean "JJ"', "Dupont, Jr."),
)
HARD_DESIGN_NAMES: tuple[str, ...] = ('Tote "Classic"', "Bolsa Cañón 👜", "Back\\slash", "Two\r\nLines")

FIRST_NAMES: tuple[str, ...] = (
    "Jeremie", "Deron", "Jeanette", "Ana", "Magdalena", "Korey", "Raphael", "Oswaldo", "Brody", "Jazmyn",
    "Meda", "Imani", "Stan", "Rick", "Ellie", "Nadia", "Omar", "Priya", "Tomasz", "Chloé",
    "Lena", "Yusuf", "Mei", "Kwame", "Isla", "Hamish", "Freya", "Dmitri", "Sofia", "Mateo",
    "Aoife", "Ravi", "Grace", "Olu", "Hannah", "Luca", "Amara", "Jonas", "Ingrid", "Felix",
)  # fmt: skip
LAST_NAMES: tuple[str, ...] = (
    "Franey", "Purdy", "Erdman", "Glover", "Zieme", "Ondricka", "Rippin", "Bashirian", "Ratke", "Hansen",
    "Cremin", "Walsh", "Lang", "Huels", "Okafor", "Kowalski", "Nakamura", "Patel", "Fernández", "Schmidt",
    "MacLeod", "Nguyen", "Haddad", "Lindqvist", "Rossi", "Adeyemi", "Brennan", "Dubois", "Kaur", "Moreau",
)  # fmt: skip

STREETS: tuple[str, ...] = (
    "Avenue Road", "Sandringham Close", "Mill Lane", "Station Road", "Church Street", "Victoria Terrace",
    "Alexie Cliffs", "Weimann Knoll", "Zieme Ridge", "Heathcote Meadows", "Kingsway", "Harbour View",
    "Market Square", "Orchard Way", "Canal Street", "Queen's Parade", "Bridge Street", "Elm Grove",
)  # fmt: skip
SECOND_LINES: tuple[str, ...] = (
    "Flat 2", "Suite 100", "Unit 7", "Apartment 14", "Floor 3", "Rear Entrance", "Building C", "Gate 4",
)  # fmt: skip
DISTRICTS: tuple[str, ...] = (
    "Avon", "Bedfordshire", "Buckinghamshire", "Cambridgeshire", "Cheshire", "Cornwall", "Kent", "Surrey",
    "Yorkshire", "Lancashire", "Highlands", "Bavaria", "Île-de-France", "Catalonia", "Lombardy", "Ontario",
)  # fmt: skip
# (city, country, postal code pattern, phone prefix); '#' = digit, '@' = letter.
CITIES: tuple[tuple[str, str, str, str], ...] = (
    ("London", "United Kingdom", "@@# #@@", "+44 20"),
    ("Leeds", "United Kingdom", "LS# #@@", "+44 113"),
    ("Manchester", "United Kingdom", "M## #@@", "+44 161"),
    ("Edinburgh", "United Kingdom", "EH# #@@", "+44 131"),
    ("Bristol", "United Kingdom", "BS# #@@", "+44 117"),
    ("Dublin", "Ireland", "D## @###", "+353 1"),
    ("Paris", "France", "750##", "+33 1"),
    ("München", "Germany", "80###", "+49 89"),
    ("Barcelona", "Spain", "080##", "+34 93"),
    ("Milan", "Italy", "201##", "+39 02"),
    ("New York", "United States", "100##", "+1 212"),
    ("Toronto", "Canada", "M#@ #@#", "+1 416"),
    ("Zürich", "Switzerland", "80##", "+41 44"),
    ("Tokyo", "Japan", "1##-####", "+81 3"),
    ("Shanghai", "China", "200###", "+86 21"),
)

COMPANY_FIRST: tuple[str, ...] = (
    "Fahey", "Leannon", "Armstrong", "Kohler", "Frami", "Mraz", "Bogan", "Hartley", "Northwind", "Bluebell",
    "Canvas", "Harbour", "Evergreen", "Silverline", "Atlas", "Meridian", "Oakridge", "Pennine", "Cobalt", "Juniper",
)  # fmt: skip
COMPANY_SECOND: tuple[str, ...] = (
    "and Sons", "Inc", "Ltd", "Group", "LLC", "Trading", "Textiles", "Retail", "Supplies", "& Partners",
    "Holdings", "Bags", "Outfitters", "Imports",
)  # fmt: skip

DESIGN_WORDS: tuple[str, ...] = (
    "Wooden", "Bronze", "Granite", "Cotton", "Steel", "Soft", "Rubber", "Frozen", "Concrete", "Fresh",
    "Plastic", "Metal", "Cedar", "Linen", "Marble", "Velvet", "Denim", "Canvas", "Jute", "Silk",
)  # fmt: skip
FILE_LOCATIONS: tuple[str, ...] = (
    "/usr/share", "/private", "/System", "/usr/local/src", "/opt/designs", "/home/user/dir", "/usr/ports",
    "/Library", "/srv/totes/artwork",
)  # fmt: skip

# (name, location, manager): ten departments; one has no location, one no manager.
DEPARTMENTS: tuple[tuple[str, str | None, str | None], ...] = (
    ("Sales", "Manchester", "Richard Roma"),
    ("Purchasing", "Manchester", "Naomi Lapaglia"),
    ("Production", "Leeds", "Chester Ratke"),
    ("Dispatch", "Leeds", "Mark Hanna"),
    ("Finance", "Manchester", "Jordan Belfort"),
    ("Facilities", None, "Shelley Levene"),  # hard case: NULL location
    ("Communications", "Leeds", None),  # hard case: NULL manager
    ("HR", "Leeds", "James Link"),
    ('Design & "Product"', "Zürich", "Zoë Strauß"),
    ("Customer Service, EMEA", "Dublin", "Siobhán O'Brien"),
)
# New names the simulator gives a department it renames.
DEPARTMENT_RENAMES: tuple[str, ...] = (
    "Logistics", "Procurement", "Estates", "People", "Marketing", "Manufacturing", "Accounts",
    "Customer Success", "Operations", "Research & Development", "Brand", "Fulfilment",
)  # fmt: skip

CURRENCIES: tuple[str, ...] = ("GBP", "USD", "EUR")
CURRENCY_WEIGHTS: tuple[float, ...] = (0.5, 0.25, 0.25)

ITEM_CODE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
EMAIL_DOMAIN = "terrifictotes.com"

# _prisma_migrations rows as the migration tool writes them (the pipeline must skip the table).
PRISMA_MIGRATIONS: tuple[tuple[str, str, str, str], ...] = (
    (
        "0f2b4c66-1d3a-4e7b-9c55-7a1e2d3f4b50",
        "b3a1f0c5d2e4f6a8b0c2d4e6f8a0b2c4d6e8f0a2b4c6d8e0f2a4b6c8d0e2f4a6",
        "20221025102345_init",
        "2022-10-25 10:23:45.123+00",
    ),
    (
        "5d7e9f1a-3b4c-4d6e-8f0a-1b2c3d4e5f60",
        "9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0",
        "20230112084501_add_payment_type",
        "2023-01-12 08:45:01.456+00",
    ),
)


# --- drawing single values (small tables and the simulator; the big tables are vectorised) ---


def pick(rng: np.random.Generator, pool: Sequence[T]) -> T:
    """One element of ``pool``, chosen by ``rng`` (deterministic for a seeded generator)."""
    return pool[int(rng.integers(len(pool)))]


def fill_pattern(rng: np.random.Generator, pattern: str) -> str:
    """Replace each '#' in ``pattern`` with a digit and each '@' with an upper-case letter."""
    out = []
    for ch in pattern:
        if ch == "#":
            out.append(str(int(rng.integers(10))))
        elif ch == "@":
            out.append(chr(ord("A") + int(rng.integers(26))))
        else:
            out.append(ch)
    return "".join(out)


def person_name(rng: np.random.Generator) -> tuple[str, str]:
    """A (first name, last name) pair."""
    return pick(rng, FIRST_NAMES), pick(rng, LAST_NAMES)


def company_name(rng: np.random.Generator) -> str:
    """A plausible counterparty legal name, e.g. 'Fahey and Sons'."""
    return f"{pick(rng, COMPANY_FIRST)} {pick(rng, COMPANY_SECOND)}"


def email_for(first: str, last: str, staff_id: int) -> str:
    """A work e-mail address; accents folded to ASCII, names that fold to nothing use the id."""

    def fold(text: str) -> str:
        ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
        return "".join(ch for ch in ascii_text.lower() if ch.isalnum())

    local = ".".join(part for part in (fold(first), fold(last)) if part) or f"staff{staff_id}"
    return f"{local}@{EMAIL_DOMAIN}"


def address_values(rng: np.random.Generator) -> dict[str, str | None]:
    """One address's text columns; line 2 and district are sometimes NULL or empty."""
    city, country, postcode, phone_prefix = pick(rng, CITIES)
    roll_line2, roll_district = rng.random(), rng.random()
    line_2 = None if roll_line2 < 0.40 else "" if roll_line2 < 0.45 else pick(rng, SECOND_LINES)
    district = None if roll_district < 0.30 else "" if roll_district < 0.35 else pick(rng, DISTRICTS)
    return {
        "address_line_1": f"{int(rng.integers(1, 400))} {pick(rng, STREETS)}",
        "address_line_2": line_2,
        "district": district,
        "city": city,
        "postal_code": fill_pattern(rng, postcode),
        "country": country,
        "phone": f"{phone_prefix} {fill_pattern(rng, '#### ####')}",
    }
