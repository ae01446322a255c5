"""Paths parse as the gateway's `scim::path` parses them, with its messages."""

import unittest

from scimgate_sdk._path import AttrPath, PathError, parse_value_path, show_filter

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


class Parsing(unittest.TestCase):
    def test_attribute_sub_attribute_urn_and_filtered_paths(self):
        self.assertEqual(parse_value_path("  name.givenName \t").attr, AttrPath(None, "name", "givenName"))
        self.assertEqual(parse_value_path(f"{ENTERPRISE}:manager.value").attr, AttrPath(ENTERPRISE, "manager", "value"))
        bare = parse_value_path(ENTERPRISE).attr
        self.assertEqual(bare, AttrPath("urn:ietf:params:scim:schemas:extension:enterprise:2.0", "User", None))
        self.assertEqual(parse_value_path("groups.$ref").attr.sub, "$ref")
        vp = parse_value_path('emails[value eq "a]b"].display')
        self.assertEqual(show_filter(vp.filter), 'value eq "a]b"', "a ']' inside a string does not close the filter")
        self.assertEqual(vp.attr.sub, "display")

    def test_filters_print_canonically(self):
        def shown(filter: str) -> str:
            return show_filter(parse_value_path(f"x[{filter}]").filter)

        self.assertEqual(shown('TYPE EQ "work" AND primary eq TRUE'), 'TYPE eq "work" and primary eq true')
        self.assertEqual(
            shown('type eq "work" and (primary eq true or region pr)'),
            'type eq "work" and (primary eq true or region pr)',
        )
        self.assertEqual(shown('(a eq 1 or b eq 2) and not (c eq "\\u00e9\\n")'), '(a eq 1 or b eq 2) and not (c eq "é\\n")')

    def test_bad_paths_have_the_gateway_messages_and_positions(self):
        cases = [
            ("", 'invalid path "": expected an attribute name at position 0'),
            ("1abc", "invalid path \"1abc\": an attribute name must start with a letter, found '1' at position 0"),
            ("a.b.c", 'invalid path "a.b.c": only one level of sub-attribute is allowed at position 3'),
            (" user name", "invalid path \" user name\": invalid character ' ' in attribute name at position 5"),
            ("urn:foo", "invalid path \"urn:foo\": a URN-qualified path needs 'urn:<schema>:<attribute>' at position 0"),
            ("urn::x", "invalid path \"urn::x\": expected a schema URN after 'urn:' at position 4"),
            (
                'emails[type eq "work"',
                "expected ']' (to close the one opened at position 6), 'and' or 'or', found the end of the input at position 21",
            ),
            ('emails[type eq "work"]value', "expected '.' and a sub-attribute or the end of the path after ']' at position 22"),
            (
                'emails[type zz "work"]',
                "expected a known operator after 'type' (one of eq, ne, co, sw, ew, gt, ge, lt, le, pr), found 'zz' at position 12",
            ),
            ('emails[type eq "work]', "unterminated string starting at position 15"),
            ("emails[]", "expected an attribute path, '(' or 'not', found ']' at position 7"),
            ('emails.value[type eq "work"]', "a filtered attribute cannot have a sub-attribute before '[' at position 0"),
            ('emails[addresses[type eq "work"]]', "value paths cannot be nested inside a value path at position 16"),
            ("emails[type eq 01]", "invalid number '01' at position 15"),
            ('emails[type eq "\\x"]', "invalid escape sequence \\x at position 16"),
            ("emails[not type eq 1]", "expected '(' after 'not', found 'type' at position 11"),
            (f"emails[{'(' * 64}a pr{')' * 64}]", "filter nested deeper than 64 levels at position 70"),
        ]
        for path, message in cases:
            with self.subTest(path=path), self.assertRaises(PathError) as raised:
                parse_value_path(path)
            self.assertTrue(str(raised.exception).endswith(message), f"{path}: {raised.exception}")


if __name__ == "__main__":
    unittest.main()
