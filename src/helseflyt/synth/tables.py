"""Embedded public facts the generator draws from (small on purpose).

Municipalities and Oslo's urban districts: kommunenummer/bydelsnummer of the 2024
numbering and populations rounded to the thousand (approximate, 1 January 2024; Statistics
Norway, SSB table 07459 "Befolkning", and the Klass code lists 131 and 103). Age bands: SSB
07459 for the whole country, 2024 (percent, rounded). Names: common Norwegian first names
and surnames (SSB name statistics). Health trusts: the real helseforetak names; every
identifier given to them (organisasjonsnummer, RESH-id, HER-id) is synthetic.
Clinical codes are the published codes of ICPC-2, ICD-10, ATC, LOINC, SNOMED CT and
NPU (used by NLK); displays are short English or Norwegian labels.
"""

from __future__ import annotations

# (kommunenummer, name, population, postal code, postal place, health trust key)
MUNICIPALITIES: tuple[tuple[str, str, int, str, str, str], ...] = (
    ("0301", "Oslo", 717_000, "0150", "OSLO", "ous"),
    ("4601", "Bergen", 292_000, "5003", "BERGEN", "bergen"),
    ("5001", "Trondheim", 215_000, "7010", "TRONDHEIM", "stolav"),
    ("1103", "Stavanger", 149_000, "4006", "STAVANGER", "stavanger"),
    ("3201", "Bærum", 131_000, "1337", "SANDVIKA", "ous"),
    ("4204", "Kristiansand", 117_000, "4610", "KRISTIANSAND S", "sorlandet"),
    ("3301", "Drammen", 103_000, "3015", "DRAMMEN", "vv"),
    ("3203", "Asker", 99_000, "1384", "ASKER", "ous"),
    ("3205", "Lillestrøm", 92_000, "2000", "LILLESTRØM", "ous"),
    ("3107", "Fredrikstad", 85_000, "1606", "FREDRIKSTAD", "ostfold"),
    ("1108", "Sandnes", 84_000, "4306", "SANDNES", "stavanger"),
    ("5501", "Tromsø", 79_000, "9008", "TROMSØ", "unn"),
    ("3907", "Sandefjord", 66_000, "3210", "SANDEFJORD", "vestfold"),
    ("3105", "Sarpsborg", 59_000, "1706", "SARPSBORG", "ostfold"),
    ("1508", "Ålesund", 59_000, "6002", "ÅLESUND", "more"),
    ("3905", "Tønsberg", 59_000, "3110", "TØNSBERG", "vestfold"),
    ("4003", "Skien", 56_000, "3724", "SKIEN", "telemark"),
    ("1804", "Bodø", 54_000, "8006", "BODØ", "nordland"),
    ("4203", "Arendal", 46_000, "4836", "ARENDAL", "sorlandet"),
    ("1106", "Haugesund", 38_000, "5501", "HAUGESUND", "fonna"),
    ("3403", "Hamar", 33_000, "2317", "HAMAR", "innlandet"),
    ("1506", "Molde", 33_000, "6413", "MOLDE", "more"),
    ("5025", "Røros", 6_000, "7374", "RØROS", "stolav"),
    ("4633", "Fedje", 1_000, "5947", "FEDJE", "bergen"),
    ("1144", "Kvitsøy", 1_000, "4180", "KVITSØY", "stavanger"),
    ("4629", "Modalen", 400, "5729", "MODALEN", "bergen"),
    ("1151", "Utsira", 200, "5547", "UTSIRA", "fonna"),
)

# Oslo's 15 bydeler: (bydelsnummer, name, population)
OSLO_DISTRICTS: tuple[tuple[str, str, int], ...] = (
    ("030101", "Gamle Oslo", 62_000),
    ("030102", "Grünerløkka", 65_000),
    ("030103", "Sagene", 46_000),
    ("030104", "St. Hanshaugen", 40_000),
    ("030105", "Frogner", 60_000),
    ("030106", "Ullern", 35_000),
    ("030107", "Vestre Aker", 51_000),
    ("030108", "Nordre Aker", 54_000),
    ("030109", "Bjerke", 35_000),
    ("030110", "Grorud", 28_000),
    ("030111", "Stovner", 34_000),
    ("030112", "Alna", 50_000),
    ("030113", "Østensjø", 52_000),
    ("030114", "Nordstrand", 53_000),
    ("030115", "Søndre Nordstrand", 40_000),
)

# health trust key -> name
HEALTH_TRUSTS: tuple[tuple[str, str], ...] = (
    ("ous", "Oslo universitetssykehus HF"),
    ("ostfold", "Sykehuset Østfold HF"),
    ("vv", "Vestre Viken HF"),
    ("vestfold", "Sykehuset i Vestfold HF"),
    ("telemark", "Sykehuset Telemark HF"),
    ("sorlandet", "Sørlandet sykehus HF"),
    ("stavanger", "Helse Stavanger HF"),
    ("fonna", "Helse Fonna HF"),
    ("bergen", "Helse Bergen HF"),
    ("more", "Helse Møre og Romsdal HF"),
    ("innlandet", "Sykehuset Innlandet HF"),
    ("stolav", "St. Olavs hospital HF"),
    ("nordland", "Nordlandssykehuset HF"),
    ("unn", "Universitetssykehuset Nord-Norge HF"),
)

DEPARTMENTS: tuple[str, ...] = (
    "Medisinsk klinikk",
    "Kirurgisk klinikk",
    "Ortopedisk avdeling",
    "Barne- og ungdomsklinikken",
    "Akuttmottak",
)

# (low age, high age, percent of the population)
AGE_BANDS: tuple[tuple[int, int, float], ...] = (
    (0, 9, 10.8),
    (10, 19, 12.0),
    (20, 29, 13.0),
    (30, 39, 13.8),
    (40, 49, 13.0),
    (50, 59, 13.6),
    (60, 69, 11.3),
    (70, 79, 8.8),
    (80, 89, 3.9),
    (90, 104, 0.9),
)


def female_share(age: int) -> float:
    """Share of women by age (more women among the oldest)."""
    if age >= 90:
        return 0.68
    if age >= 80:
        return 0.58
    if age >= 70:
        return 0.52
    return 0.49


FEMALE_NAMES = (
    "Anne", "Inger", "Kari", "Marit", "Ingrid", "Liv", "Eva", "Berit", "Astrid", "Bjørg",
    "Hilde", "Anna", "Solveig", "Marianne", "Randi", "Ida", "Nina", "Maria", "Elisabeth",
    "Kristin", "Silje", "Hanne", "Nora", "Emma", "Ella", "Maja", "Olivia", "Emilie",
    "Sofie", "Leah", "Sara", "Ragnhild", "Tone", "Heidi", "Camilla", "Ingeborg",
)  # fmt: skip
MALE_NAMES = (
    "Jan", "Per", "Bjørn", "Ole", "Lars", "Kjell", "Knut", "Arne", "Svein", "Thomas",
    "Hans", "Geir", "Tor", "Morten", "Terje", "Odd", "Erik", "Martin", "Andreas", "John",
    "Anders", "Rune", "Trond", "Tore", "Jonas", "Lucas", "Filip", "Oliver", "Emil",
    "Jakob", "Noah", "William", "Henrik", "Magnus", "Sander", "Olav",
)  # fmt: skip
SURNAMES = (
    "Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Pedersen", "Nilsen",
    "Kristiansen", "Jensen", "Karlsen", "Johnsen", "Pettersen", "Eriksen", "Berg",
    "Haugen", "Hagen", "Johannessen", "Andreassen", "Jacobsen", "Dahl", "Jørgensen",
    "Halvorsen", "Henriksen", "Lund", "Sørensen", "Jakobsen", "Moen", "Gundersen",
    "Iversen", "Strand", "Solberg", "Svendsen", "Eide", "Knutsen", "Martinsen", "Paulsen",
    "Bakken", "Kristoffersen", "Mathisen", "Lie", "Amundsen", "Nguyen", "Rasmussen",
    "Ali", "Lunde", "Solheim", "Berge", "Moe", "Nygård", "Bakke",
)  # fmt: skip
# People with a D-nummer (workers, students): common names in their countries
FOREIGN = (
    ("Kowalski", "Piotr", "Anna"), ("Nowak", "Tomasz", "Katarzyna"),
    ("Kazlauskas", "Tomas", "Rasa"), ("Andersson", "Johan", "Emma"),
    ("Virtanen", "Mikko", "Aino"), ("Müller", "Stefan", "Julia"),
    ("García", "Javier", "Lucía"), ("Popescu", "Andrei", "Elena"),
)  # fmt: skip
STREETS = (
    "Storgata", "Kirkegata", "Skolevegen", "Parkveien", "Bjørkeveien", "Granveien",
    "Fjordgata", "Sjøgata", "Solbakken", "Kongens gate", "Dronningens gate", "Torggata",
    "Havnegata", "Bakkeveien", "Furuveien", "Lindeveien", "Eikeveien", "Stasjonsveien",
)  # fmt: skip

# Chronic conditions: key, ICPC-2 (code, display), ICD-10 (code, display),
# prevalence by age (per 1000, from age 40 / from age 70), medications (ATC, display)
CHRONIC: tuple[tuple[str, tuple[str, str], tuple[str, str], int, int, tuple[tuple[str, str], ...]], ...] = (
    ("diabetes", ("T90", "Diabetes type 2"), ("E11", "Diabetes mellitus type 2"), 60, 140,
     (("A10BA02", "Metformin"), ("A10BK01", "Dapagliflozin"))),
    ("hypertension", ("K86", "Hypertensjon ukomplisert"), ("I10", "Essensiell hypertensjon"), 180, 420,
     (("C09AA05", "Ramipril"), ("C08CA01", "Amlodipin"))),
    ("afib", ("K78", "Atrieflimmer/flutter"), ("I48", "Atrieflimmer og atrieflutter"), 15, 110,
     (("B01AF02", "Apixaban"),)),
    ("copd", ("R95", "Kronisk obstruktiv lungesykdom"), ("J44", "Annen kronisk obstruktiv lungesykdom"),
     30, 90, (("R03AC02", "Salbutamol"), ("R03BB04", "Tiotropiumbromid"))),
    ("hypothyroidism", ("T86", "Hypotyreose/myksødem"), ("E03", "Annen hypotyreose"), 40, 80,
     (("H03AA01", "Levotyroksinnatrium"),)),
    ("depression", ("P76", "Depressiv lidelse"), ("F32", "Depressiv episode"), 50, 50,
     (("N06AB06", "Sertralin"),)),
)  # fmt: skip
STATIN = ("C10AA05", "Atorvastatin")

# GP contact reasons: ICPC-2 (code, display)
GP_REASONS = (
    ("R74", "Akutt øvre luftveisinfeksjon"), ("L03", "Korsryggsymptomer/plager"),
    ("A97", "Ingen sykdom"), ("U71", "Cystitt/urinveisinfeksjon IKA"),
    ("S88", "Kontaktdermatitt/annet eksem"), ("P74", "Angstlidelse"),
    ("L84", "Ryggsyndrom uten smerteutstråling"), ("R78", "Akutt bronkitt/bronkiolitt"),
    ("H71", "Akutt mellomørebetennelse"), ("D73", "Gastroenteritt antatt infeksiøs"),
    ("A98", "Helseforebygging/forebyggende tiltak"), ("K85", "Forhøyet blodtrykk"),
)  # fmt: skip
# Hospital admissions: ICD-10 (code, display), department index in DEPARTMENTS
ADMISSIONS = (
    ("J18.9", "Uspesifisert pneumoni", 0), ("I21.9", "Akutt hjerteinfarkt, uspesifisert", 0),
    ("S72.0", "Brudd i lårhals", 2), ("K35.8", "Annen og uspesifisert akutt appendisitt", 1),
    ("I63.9", "Uspesifisert hjerneinfarkt", 0), ("N39.0", "Urinveisinfeksjon, uspesifisert lokalisasjon", 0),
    ("J44.1", "KOLS med akutt forverring", 0), ("K80.2", "Gallestein uten kolecystitt", 1),
)  # fmt: skip
PEDIATRIC_ADMISSIONS = (
    ("J21.9", "Akutt bronkiolitt, uspesifisert", 3),
    ("A08.4", "Virusbetinget tarminfeksjon", 3),
)

# Labs (NLK, NPU codes): code, display, UCUM unit, reference low, high, typical mean, sd
LABS = (
    ("NPU02319", "B—Hemoglobin; massekons.", "g/dL", 11.7, 15.3, 13.8, 1.2),
    ("NPU19748", "P—C-reaktivt protein; massekons.", "mg/L", None, 5.0, 4.0, 6.0),
    ("NPU18016", "P—Kreatinin; stoffkons.", "umol/L", 45.0, 90.0, 75.0, 15.0),
    ("NPU03230", "P—Kalium; stoffkons.", "mmol/L", 3.5, 4.4, 4.0, 0.3),
    ("NPU03429", "P—Natrium; stoffkons.", "mmol/L", 137.0, 145.0, 140.0, 2.5),
    ("NPU01566", "P—Kolesterol; stoffkons.", "mmol/L", 2.9, 6.1, 5.2, 1.0),
)  # fmt: skip
HBA1C = ("NPU27300", "B—Hemoglobin A1c (IFCC); stoffkons.", "mmol/mol", 20.0, 42.0)

# Allergies: SNOMED CT substance (code, display), reaction manifestation (code, display),
# share of cases that are critical
ALLERGIES = (
    ("373270004", "Penicillin -class of antibiotic-", "39579001", "Anaphylaxis", 0.25),
    ("256349002", "Peanut", "39579001", "Anaphylaxis", 0.35),
    ("387207008", "Ibuprofen", "271807003", "Eruption of skin", 0.05),
    ("288328004", "Bee venom", "39579001", "Anaphylaxis", 0.4),
    ("227493005", "Cashew nut", "41291007", "Angioedema", 0.3),
    ("256277009", "Grass pollen", "21719001", "Allergic rhinitis", 0.0),
)  # fmt: skip
# Vaccines: ATC (code, display), minimum age
VACCINES = (
    ("J07BB02", "Influensa, inaktivert, splittvirus eller overflateantigen", 65),
    ("J07BN01", "Covid-19, RNA-basert vaksine", 18),
    ("J07AL02", "Pneumokokk, renset polysakkarid-antigen konjugert", 65),
    ("J07CA09", "Difteri-Hib-pertussis-poliomyelitt-tetanus-hepatitt B", 0),
    ("J07BD52", "Meslinger, kombinasjoner med kusma og røde hunder, levende svekket", 1),
)  # fmt: skip
