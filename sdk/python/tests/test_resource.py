"""The rules of the gateway's `scim::document`, through Resource: the cases of its Rust
tests (sdk/src/resource.rs, gateway/scim/src/document/tests.rs)."""

import json
import unittest

from scimgate_sdk import ENTERPRISE_USER_SCHEMA as ENTERPRISE
from scimgate_sdk import USER_SCHEMA, Failed, Resource

ACME = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"


def user() -> Resource:
    return Resource(
        {
            "schemas": [USER_SCHEMA],
            "userName": "Alice",
            "name": {"givenName": "Alice", "familyName": None},
            "emails": [
                {"value": "alice@home.example", "type": "home"},
                {"value": "Alice@Work.example", "type": "work", "primary": True},
                {"value": "alice2@work.example", "type": "Work"},
            ],
            ENTERPRISE: {"department": "Engineering"},
        }
    )


def emails() -> Resource:
    return Resource(
        {
            "emails": [
                {"type": "work", "value": "first@x"},
                {"type": "home", "value": "home@x"},
                {"type": "work", "value": "primary@x", "primary": True},
            ]
        }
    )


class Reads(unittest.TestCase):
    def test_simple_sub_and_filtered_paths(self):
        doc = user()
        self.assertEqual(doc.get_str("userName"), "Alice")
        self.assertEqual(doc.get_str("USERNAME"), "Alice")
        self.assertEqual(doc.get_str("urn:ietf:params:scim:schemas:core:2.0:User:userName"), "Alice")
        self.assertEqual(doc.get_str("name.givenName"), "Alice")
        self.assertIsNone(doc.get("name.familyName"), "null reads as absent")
        self.assertIsNone(doc.get("nickName"))
        # `type` is not case-exact: both work emails match.
        self.assertEqual(doc.get_all('emails[type eq "work"].value'), ["Alice@Work.example", "alice2@work.example"])
        self.assertEqual(doc.get_str('emails[type eq "work" and primary eq true].value'), "Alice@Work.example")
        self.assertEqual(len(doc.get_all("emails.value")), 3)
        self.assertEqual(doc.get_str("emails.value"), "Alice@Work.example", "one value: the primary's")
        self.assertEqual(len(doc.get("emails")), 3)
        self.assertIsNone(doc.get('emails[type eq "other"]'))
        self.assertEqual(doc.get_str(f"{ENTERPRISE}:department"), "Engineering")
        self.assertEqual(doc.get(ENTERPRISE), {"department": "Engineering"})
        self.assertIsNone(doc.get("emails[type eq"), "a bad path finds nothing")
        self.assertIs(doc.get_bool('emails[value sw "Alice@"].primary'), True)

    def test_filtered_reads_with_zero_one_and_many_matches(self):
        doc = emails()
        self.assertIsNone(doc.get('emails[type eq "other"].value'))
        self.assertEqual(doc.get_all('emails[type eq "home"].value'), ["home@x"])
        self.assertEqual(doc.get('emails[type eq "work"].value'), "primary@x", "the primary wins")
        self.assertEqual(doc.get_all('emails[type eq "work"].value'), ["first@x", "primary@x"])
        doc = Resource({"emails": [{"type": "work", "value": "a"}, {"type": "work", "value": "b", "primary": "True"}]})
        self.assertEqual(doc.get('emails[type eq "work"].value'), "b", 'Entra\'s "True" is primary')
        doc = Resource({"emails": [{"type": "work", "primary": True}, {"type": "work", "value": "v", "display": None}]})
        self.assertEqual(doc.get('emails[type eq "work"].value'), "v", "elements without the value are not candidates")
        self.assertIsNone(doc.get('emails[type eq "work"].display'))
        self.assertEqual(doc.get("emails[value pr]"), {"type": "work", "value": "v", "display": None})
        doc = Resource({"emails": {"type": "work", "value": "lone"}})
        self.assertEqual(doc.get('emails[type eq "work"].value'), "lone", "a lone object is one element")

    def test_filter_operators(self):
        doc = Resource(
            {
                "emails": [
                    {"type": "work", "value": "Ann@Corp.example", "primary": "False", "rank": 2},
                    {"type": "home", "value": "ann@home.example", "rank": 10},
                ],
                "meta": {"resourceType": "User"},
            }
        )

        def values(filter: str) -> list:
            return doc.get_all(f"emails[{filter}].value")

        self.assertEqual(values('value co "corp"'), ["Ann@Corp.example"], "case-insensitive")
        self.assertEqual(values('value sw "ANN@"'), ["Ann@Corp.example", "ann@home.example"])
        self.assertEqual(values('value ew ".EXAMPLE" and not (type eq "work")'), ["ann@home.example"])
        self.assertEqual(values('type ne "work"'), ["ann@home.example"])
        self.assertEqual(values("primary eq false"), ["Ann@Corp.example"], "a boolean from a string")
        self.assertEqual(values("primary eq null"), ["ann@home.example"], "eq null: no value")
        self.assertEqual(values('rank gt 2 or type eq "work"'), ["Ann@Corp.example", "ann@home.example"])
        self.assertEqual(values("rank lt 10"), ["Ann@Corp.example"], "numbers compare as numbers")
        self.assertEqual(values('rank eq "2"'), [], "a string is not a number")
        self.assertEqual(values("display pr"), [])
        self.assertIsNone(doc.get('meta[resourceType eq "user"].resourceType'), "resourceType is case-exact")
        self.assertEqual(doc.get('meta[resourceType eq "User"].resourceType'), "User")

    def test_core_and_extension_urns(self):
        doc = Resource(
            {
                "name": {"givenName": "Alice"},
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:USER": {"department": "R&D"},
            }
        )
        self.assertEqual(doc.get("URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER:NAME.GIVENNAME"), "Alice")
        self.assertEqual(doc.get(f"{ENTERPRISE.upper()}:department"), "R&D")
        self.assertEqual(doc.get(ENTERPRISE), {"department": "R&D"}, "a bare URN is the whole object")
        self.assertIsNone(doc.get(f"{ACME}:department"))
        self.assertIsNone(doc.get(f"{ENTERPRISE}:name.givenName"), "extensions are not the top level")


class Writes(unittest.TestCase):
    def test_sets_attributes_creating_what_is_missing(self):
        doc = user()
        doc.set("username", "alice")
        self.assertEqual(doc.value["userName"], "alice", "the existing spelling is kept")
        doc.set("name.familyName", "Smith")
        self.assertEqual(doc.value["name"], {"givenName": "Alice", "familyName": "Smith"})
        empty = Resource({})
        empty.set("name.formatted", "A B")
        self.assertEqual(empty.value, {"name": {"formatted": "A B"}})
        scalar = Resource({"name": "oops"})
        scalar.set("name.formatted", "A B")
        self.assertEqual(scalar.value, {"name": {"formatted": "A B"}}, "a scalar where an object belongs is replaced")

    def test_writes_through_filters(self):
        doc = emails()
        doc.set('emails[type eq "work"].value', "new@x")
        self.assertEqual(doc.value["emails"][2]["value"], "new@x", "the primary match")
        self.assertEqual(doc.value["emails"][0]["value"], "first@x", "the other match is left alone")
        doc.set('emails[type eq "other" and primary eq false].value', "o@x")
        self.assertEqual(doc.value["emails"][3], {"type": "other", "primary": False, "value": "o@x"})
        doc.set('phoneNumbers[type eq "mobile"]', {"value": "+1"})
        self.assertEqual(doc.value["phoneNumbers"], [{"type": "mobile", "value": "+1"}])
        doc.set('phoneNumbers[type eq "mobile"]', {"type": "fax", "value": "+2"})
        self.assertEqual(doc.value["phoneNumbers"], [{"type": "fax", "value": "+2"}], "a match is replaced")
        with self.assertRaises(Failed) as raised:
            doc.set('emails[value co "z"].display', "z")
        self.assertEqual(
            raised.exception.message,
            "no element of 'emails' matches [value co \"z\"], and the filter is not a list of `eq` terms to build one from",
        )
        with self.assertRaises(Failed):
            doc.set("emails[type eq null].display", "z")
        with self.assertRaisesRegex(Failed, r'^invalid path "emails\[": '):
            doc.set("emails[", "z")

        lone = Resource({"emails": {"type": "home", "value": "h"}})
        lone.set('emails[type eq "work"].value', "w")
        self.assertEqual(lone.value["emails"], [{"type": "home", "value": "h"}, {"type": "work", "value": "w"}])
        unfiltered = Resource({"emails": [{"value": "a"}, {"value": "b", "primary": True}]})
        unfiltered.set("emails.display", "B")
        self.assertEqual(unfiltered.value["emails"], [{"value": "a"}, {"value": "b", "primary": True, "display": "B"}])
        none = Resource({"emails": []})
        none.set("emails.value", "v")
        self.assertEqual(none.value["emails"], [{"value": "v"}])

    def test_names_are_case_insensitive_on_read_and_write(self):
        doc = Resource({"userName": "a", "Name": {"GivenName": "A"}, "emails": [{"TYPE": "work", "Value": "w"}]})
        self.assertEqual(doc.get('EMAILS[type eq "WORK"].VALUE'), "w")
        doc.set("username", "b")
        doc.set("NAME.givenName", "B")
        doc.set('Emails[Type eq "work"].value', "v")
        doc.set("name.familyName", "F")
        expected = {"userName": "b", "Name": {"GivenName": "B", "familyName": "F"}, "emails": [{"TYPE": "work", "Value": "v"}]}
        self.assertEqual(doc.to_json(), json.dumps(expected, separators=(",", ":")))

    def test_extension_writes_list_the_schema(self):
        doc = Resource({"schemas": [USER_SCHEMA], "userName": "bob"})
        doc.set(f"{ENTERPRISE}:manager.value", "m-1")
        self.assertEqual(doc.value[ENTERPRISE], {"manager": {"value": "m-1"}})
        self.assertEqual(doc.value["schemas"], [USER_SCHEMA, ENTERPRISE])
        doc.set(f"{ENTERPRISE.lower()}:department", "Sales")
        self.assertEqual(doc.value["schemas"], [USER_SCHEMA, ENTERPRISE], "listed once, in any case")
        doc.value["schemas"].append(ACME)
        doc.set(ACME, {"badge": 7})
        self.assertEqual(doc.value[ACME], {"badge": 7}, "a bare URN the document lists names the whole object")
        bare = Resource({})
        bare.set(f"{ACME}:badge", 1)
        self.assertEqual(bare.value, {ACME: {"badge": 1}}, "no `schemas` array, none made up")

    def test_removal_takes_every_match(self):
        doc = user()
        self.assertEqual(doc.remove('emails[type eq "work"]'), 2)
        self.assertEqual(doc.remove('emails[type eq "home"].type'), 1)
        self.assertEqual(doc.remove("emails[value pr]"), 1)
        self.assertIsNone(doc.get("emails"), "an emptied multi-valued attribute is removed")
        self.assertEqual(doc.remove("name.givenName"), 1)
        self.assertEqual(doc.remove("name.familyName"), 0, "null counts as absent")
        self.assertEqual(doc.remove("nickName"), 0)
        self.assertEqual(doc.remove(f"{ENTERPRISE}:department"), 1)
        self.assertEqual(doc.remove(ENTERPRISE), 1)
        self.assertEqual(doc.value["schemas"], [USER_SCHEMA])
        with self.assertRaisesRegex(Failed, "only one level of sub-attribute is allowed at position 3"):
            doc.remove("a.b.c")

    def test_non_objects_read_empty_and_refuse_writes(self):
        doc = Resource([1, 2])
        self.assertIsNone(doc.get("userName"))
        with self.assertRaisesRegex(Failed, "^the document is not a JSON object$"):
            doc.set("userName", "x")
        self.assertEqual(doc.remove("userName"), 0)
        with self.assertRaisesRegex(Failed, "^the document is not a JSON object$"):
            Resource.from_json("[]")
        for text in ("{", '{"a": NaN}'):
            with self.assertRaisesRegex(Failed, "^the document is not valid JSON: "):
                Resource.from_json(text)
        self.assertEqual(Resource.from_json('{"a":1, "b": "é"}').to_json(), '{"a":1,"b":"é"}')


if __name__ == "__main__":
    unittest.main()
