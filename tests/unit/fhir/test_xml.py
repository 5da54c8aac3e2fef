"""FHIR XML → JSON (helseflyt.fhir.xml), per https://hl7.org/fhir/R4/xml.html."""

from __future__ import annotations

from decimal import Decimal

import pytest

from helseflyt.fhir import json as fjson
from helseflyt.fhir.validation import validate
from helseflyt.fhir.xml import XmlError, parse

NS = 'xmlns="http://hl7.org/fhir"'


def test_primitives_repeats_and_types() -> None:
    r = parse(
        f"""<Patient {NS}><id value="p1"/><active value="true"/>
        <name><family value="Nordmann"/><given value="Kari"/></name>
        <multipleBirthInteger value="2"/><birthDate value="1980-02-29"/></Patient>"""
    )
    assert r == {
        "resourceType": "Patient",
        "id": "p1",
        "active": True,
        "name": [{"family": "Nordmann", "given": ["Kari"]}],  # max * -> array, even for one
        "multipleBirthInteger": 2,
        "birthDate": "1980-02-29",
    }
    assert validate(r) == []


def test_decimal_is_exact() -> None:
    r = parse(
        f"""<Observation {NS}><status value="final"/><code><text value="w"/></code>
        <valueQuantity><value value="1.50"/><unit value="kg"/></valueQuantity></Observation>"""
    )
    value = r["valueQuantity"]["value"]
    assert isinstance(value, Decimal) and str(value) == "1.50"
    assert b'"value":1.50' in fjson.dumps(r)


def test_primitive_id_and_extension_go_to_companion() -> None:
    r = parse(
        f"""<Patient {NS}>
        <birthDate id="b" value="1970-01-01"><extension url="http://x/t">
          <valueDateTime value="1970-01-01T10:00:00Z"/></extension></birthDate>
        <name><given value="A"/><given><extension url="http://x/absent">
          <valueCode value="unknown"/></extension></given></name>
        </Patient>"""
    )
    assert r["_birthDate"] == {
        "id": "b",
        "extension": [{"url": "http://x/t", "valueDateTime": "1970-01-01T10:00:00Z"}],
    }
    name = r["name"][0]
    assert name["given"] == ["A", None]
    assert name["_given"] == [None, {"extension": [{"url": "http://x/absent", "valueCode": "unknown"}]}]
    assert validate(r) == []


def test_xhtml_div_is_a_string_and_contained_resources() -> None:
    r = parse(
        f"""<Patient {NS}><text><status value="generated"/>
        <div xmlns="http://www.w3.org/1999/xhtml"><p>Kari &amp; <b>Ola</b></p><br/></div></text>
        <contained><Organization><id value="o"/><name value="Legekontor"/></Organization></contained>
        <managingOrganization><reference value="#o"/></managingOrganization></Patient>"""
    )
    assert r["text"]["div"] == (
        '<div xmlns="http://www.w3.org/1999/xhtml"><p>Kari &amp; <b>Ola</b></p><br/></div>'
    )
    assert r["contained"] == [{"resourceType": "Organization", "id": "o", "name": "Legekontor"}]
    assert validate(r) == []


def test_bundle_entry_resource_and_extension_url_attribute() -> None:
    r = parse(
        f"""<Bundle {NS}><type value="collection"/><entry><resource><Patient>
        <extension url="http://hl7.no/fhir/x"><valueBoolean value="false"/></extension>
        </Patient></resource></entry></Bundle>"""
    )
    patient = r["entry"][0]["resource"]
    ext = {"url": "http://hl7.no/fhir/x", "valueBoolean": False}
    assert patient == {"resourceType": "Patient", "extension": [ext]}


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        (f"<Patient {NS}><colour value='red'/></Patient>", "unknown element 'colour'"),
        ("<Patient><id value='x'/></Patient>", "not in the FHIR namespace"),
        (f"<Nonsense {NS}/>", "not an R4 resource type"),
        (f"<Patient {NS}><active value='yes'/></Patient>", "boolean"),
        (f"<Patient {NS}><gender value='male'/><gender value='female'/></Patient>", "more than once"),
        (f"<Patient {NS}><active/></Patient>", "value attribute"),
        ("<Patient", "malformed XML"),
        ('<!DOCTYPE x [<!ENTITY a "b">]><Patient xmlns="http://hl7.org/fhir"/>', "DOCTYPE"),
    ],
)
def test_errors_name_the_element(xml: str, message: str) -> None:
    with pytest.raises(XmlError, match=message):
        parse(xml)


def test_no_basis_conformance_resources_convert(shared_dir) -> None:  # type: ignore[no-untyped-def]
    files = sorted((shared_dir / "profiles" / "no-basis").glob("*/*.xml"))
    assert len(files) >= 70
    for f in files:
        r = parse(f.read_bytes())
        assert r["resourceType"] == f.parent.name or f.parent.name == "Examples"
