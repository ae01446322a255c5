//! Fixtures shared by the micro-benchmarks in `benches/` (see
//! `BENCHMARKS.md`): JSON text only, so this library has no dependencies.

/// A realistic Entra ID user as it arrives in `POST /Users` (about 1 KB of
/// compact JSON): `userName` is the UPN, in mixed case, so `work-email`
/// really changes it.
pub const ENTRA_USER: &str = r#"{
  "schemas": [
    "urn:ietf:params:scim:schemas:core:2.0:User",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
  ],
  "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
  "userName": "Alice.Smith@Corp.example",
  "active": true,
  "displayName": "Alice Smith",
  "title": "Staff Engineer",
  "preferredLanguage": "en-US",
  "userType": "Employee",
  "name": {"formatted": "Alice Smith", "familyName": "Smith", "givenName": "Alice"},
  "emails": [
    {"value": "alice@home.example", "type": "home"},
    {"value": "Alice.Smith@Corp.example", "type": "work", "primary": true}
  ],
  "phoneNumbers": [
    {"value": "+1 555 0100", "type": "work"},
    {"value": "+1 555 0199", "type": "mobile"}
  ],
  "addresses": [
    {"type": "work", "formatted": "1 Main St, Springfield, IL 62701, US", "streetAddress": "1 Main St",
     "locality": "Springfield", "region": "IL", "postalCode": "62701", "country": "US", "primary": true}
  ],
  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
    "employeeNumber": "701984",
    "costCenter": "4130",
    "organization": "Corp",
    "division": "Platform",
    "department": "Engineering",
    "manager": {"value": "2819c223-7f76-453a-919d-413861904646"}
  }
}"#;

/// Entra's lookup before a create (MS-COMPAT "Get User by query").
pub const TYPICAL_FILTER: &str = r#"userName eq "Alice.Smith@Corp.example""#;

/// Value paths, `and`, `or`, `not`, a URN-qualified path; it matches
/// [`ENTRA_USER`].
pub const COMPLEX_FILTER: &str = r#"(emails[type eq "work" and value co "@corp.example"] or userType eq "Contractor") and not (active eq false) and (name.familyName sw "Sm" or urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "Engineering")"#;

/// Entra's PATCH of three attributes: a value-path replace, a sub-attribute
/// replace, and a string boolean (`"False"`).
pub const ENTRA_PATCH: &str = r#"{
  "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
  "Operations": [
    {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "Alice.Jones@Corp.example"},
    {"op": "Replace", "path": "name.familyName", "value": "Jones"},
    {"op": "Replace", "path": "active", "value": "False"}
  ]
}"#;
